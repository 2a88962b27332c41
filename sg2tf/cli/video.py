"""sg2tf-video: latent-space videos from a generator.

  sg2tf-video --network=net.pkl --kind=interpolation --seeds=0-15 --grid=2x2 --output=walk.mp4
  sg2tf-video --network=net.pkl --kind=circular --seeds=3,7 --frames=240 --noise_mode=seeded --output=loop.mp4
  sg2tf-video --network=net.pkl --kind=coarse --seeds=0-3 --grid=2x2 --output=coarse.gif
  sg2tf-video --network=net.pkl --projected_w=proj/ --steps=60 --noloop --output=faces.mp4

--noise_mode=seeded gives every frame the noise of the seeds it shows (sg2tf.tools.video_noise): a
keyframe is its seed's `sg2tf-generate --noise_mode=seeded` image.
mp4 needs the `video` extra (imageio-ffmpeg); without it the video is written as GIF.
"""

import re

from absl import flags

import sg2tf.cli.video_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError
from sg2tf.utils.seeds import parse_range_list

FLAGS = flags.FLAGS


def parse_grid(spec):
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", spec or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise FlagError(f"--grid={spec!r}: expected columns x rows, e.g. 2x2")
    return int(m.group(1)), int(m.group(2))


def main(argv):
    common.start(argv, FLAGS.ops)
    from sg2tf import sampling
    from sg2tf.tools import style_mixing as sm
    from sg2tf.tools import video
    from sg2tf.tools.video_noise import SeededNoise

    grid = parse_grid(FLAGS.grid)
    seeds = parse_range_list(FLAGS.seeds, "seeds")
    if FLAGS.fps <= 0:
        raise FlagError(f"--fps={FLAGS.fps}: must be positive")
    if FLAGS.projected_w is not None and FLAGS.kind != "interpolation":
        raise FlagError(f"--projected_w makes an interpolation video, not --kind={FLAGS.kind}")
    seeded = FLAGS.noise_mode == "seeded"
    if seeded and FLAGS.projected_w is not None:
        raise FlagError(
            "--noise_mode=seeded draws each frame's noise from its seeds, and a --projected_w walk has "
            "none: use --noise_mode=const (the stored noise, as sg2tf-project renders proj.png)"
        )
    output, note = video.resolve_output(FLAGS.out)
    common.check_new_outputs([output], FLAGS.overwrite)
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    if FLAGS.projected_w is None:
        sampling.class_labels(G, FLAGS.class_idx, 1)
    common_args = dict(truncation_psi=FLAGS.trunc, truncation_cutoff=FLAGS.trunc_cutoff, class_idx=FLAGS.class_idx)
    noise = None  # --noise_mode=seeded: each frame's noise from its seeds (sg2tf.tools.video_noise)
    if FLAGS.projected_w is not None:
        specs = [s for s in FLAGS.projected_w.split(",") if s.strip()]
        ws = video.projected_ws(video.load_projected(specs, G), grid, steps=FLAGS.steps, loop=FLAGS.loop)
    elif FLAGS.kind == "interpolation":
        ws = video.interpolation_ws(G, seeds, grid, steps=FLAGS.steps, loop=FLAGS.loop, **common_args)
        if seeded:
            noise = SeededNoise.interpolation(G, seeds, grid, FLAGS.steps, FLAGS.loop)
    elif FLAGS.kind == "circular":
        if len(seeds) < 2:
            raise FlagError("--kind=circular needs two seeds")
        if grid != (1, 1):
            raise FlagError("--kind=circular makes a single-cell video: use --grid=1x1")
        ws = video.circular_ws(G, seeds[0], seeds[1], FLAGS.frames, **common_args)
        if seeded:
            noise = SeededNoise.circular(G, seeds[0], seeds[1], FLAGS.frames)
    else:
        cells = grid[0] * grid[1]
        if len(seeds) != cells:
            raise FlagError(
                f"--kind={FLAGS.kind}: give one seed per grid cell ({cells} for {FLAGS.grid}), got {len(seeds)}"
            )
        styles = sm.parse_styles(FLAGS.styles, G.num_ws) if FLAGS.styles else video.style_range(FLAGS.kind, G.num_ws)
        walk_seeds = parse_range_list(FLAGS.walk_seeds, "walk_seeds")
        ws = video.style_walk_ws(G, seeds, walk_seeds, styles, steps=FLAGS.steps, loop=FLAGS.loop, **common_args)
        if seeded:
            noise = SeededNoise.style_walk(G, seeds, len(ws))

    if note:
        print(note)
    progress = common.Progress(len(ws), "frames")
    with video.VideoWriter(output, fps=FLAGS.fps, quality_crf=FLAGS.crf) as writer:
        noise_mode = "const" if seeded else FLAGS.noise_mode  # seeded: noise replaces the stored buffers
        for frame in video.render_frames(G, ws, grid, noise_mode, FLAGS.batch, progress, noise=noise):
            writer.append(frame)
    print(f"wrote {output} ({writer.count} frames, {writer.count / FLAGS.fps:.1f} s)")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
