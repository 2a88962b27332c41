"""sg2tf-edit: find editing directions in W, and apply them.

  sg2tf-edit directions --network=net.pkl --method=sefa --layers=0-3 --out=dirs.npz
  sg2tf-edit directions --network=net.pkl --method=ganspace --num_samples=100000 --out=pca.npz
  sg2tf-edit directions --network=cond.pkl --method=label --out=classes.npz
  sg2tf-edit apply --network=net.pkl --w=proj/face --directions=dirs.npz --index=0 \\
      --strengths=-3,-1.5,0,1.5,3 --outdir=edits [--layers=0-5] [--video]
  sg2tf-edit apply --network=net.pkl --seeds=0-3 --directions=dirs.npz --index=2 --outdir=edits

`directions` writes an npz of unit vectors in W (with the method, the style layers and a
hash of the network); `apply` writes edit-<method>-<index>.png: one row per input (projected
ws or seeds), one column per strength (strength 0 is the unedited image).
"""

import os

import numpy as np
from absl import flags

import sg2tf.cli.edit_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError
from sg2tf.utils import images as image_utils
from sg2tf.utils.seeds import parse_range_list

FLAGS = flags.FLAGS
COMMANDS = ("directions", "apply")


def _layers(spec):
    return None if spec is None else parse_range_list(spec, "layers")


def _strengths(spec):
    try:
        strengths = [float(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise FlagError(f"--strengths={spec}: expected numbers separated by commas, e.g. -3,0,3") from None
    if not strengths:
        raise FlagError("--strengths: no values given")
    return strengths


def directions():
    from sg2tf.tools import editing

    if FLAGS.out is None:
        raise FlagError("directions: give --out (the npz to write)")
    common.check_new_outputs([FLAGS.out], FLAGS.overwrite)
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    layers = editing.check_layers(_layers(FLAGS.layers), G.num_ws)
    if FLAGS.method == "sefa":
        dirs, values = editing.sefa_directions(G, layers, FLAGS.num)
        extra = {"eigenvalues": values}
    elif FLAGS.method == "ganspace":
        progress = common.Progress(FLAGS.num_samples, "sampling w")
        dirs, variances, mean = editing.ganspace_directions(G, FLAGS.num, FLAGS.num_samples, FLAGS.seed, progress)
        extra = {"variances": variances, "mean": mean}
    else:
        dirs, distances = editing.label_directions(G, FLAGS.num_samples, FLAGS.seed)
        extra = {"distances": distances}
    editing.save_directions(FLAGS.out, dirs, FLAGS.method, layers, editing.network_hash(G), **extra)
    print(f"wrote {FLAGS.out}: {len(dirs)} {FLAGS.method} directions for style inputs {layers}")


def apply():
    from sg2tf import sampling
    from sg2tf.tools import editing, video
    from sg2tf.tools.style_mixing import seeds_to_ws
    from sg2tf.tools.video_noise import SeededNoise

    if (FLAGS.w is None) == (FLAGS.seeds is None):
        raise FlagError("apply: give exactly one of --w and --seeds")
    for name in ("directions", "outdir"):
        if FLAGS[name].value is None:
            raise FlagError(f"apply: give --{name}")
    strengths = _strengths(FLAGS.strengths)
    seeds = parse_range_list(FLAGS.seeds) if FLAGS.seeds is not None else None
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    data = editing.load_directions(FLAGS.directions, G)
    if not FLAGS.index < len(data["directions"]):
        raise FlagError(f"--index={FLAGS.index}: {FLAGS.directions} holds {len(data['directions'])} directions")
    layers = editing.check_layers(_layers(FLAGS.layers) if FLAGS.layers else data["layers"], G.num_ws)
    name = os.path.join(FLAGS.outdir, f"edit-{data['method']}-{FLAGS.index}")
    grid_path, (video_path, note) = f"{name}.png", video.resolve_output(f"{name}.mp4")
    common.check_new_outputs([grid_path] + ([video_path] if FLAGS.video else []), FLAGS.overwrite)
    if not data["same_network"]:
        print(f"note: {FLAGS.directions} was made from another network (its weight hash differs)")
    seeded = FLAGS.noise_mode == "seeded"
    if seeded and seeds is None:
        raise FlagError("--noise_mode=seeded needs --seeds (a projected w has no seed to draw noise from)")
    if seeds is None:
        ws = video.load_projected([s for s in FLAGS.w.split(",") if s.strip()], G)
    else:
        sampling.class_labels(G, FLAGS.class_idx, 1)
        ws = seeds_to_ws(G, seeds, FLAGS.trunc, FLAGS.trunc_cutoff, FLAGS.class_idx)
    direction = data["directions"][FLAGS.index]
    edited = editing.edit_ws(ws, direction, strengths, layers)  # [S, N, num_ws, w_dim]

    os.makedirs(FLAGS.outdir, exist_ok=True)
    images = editing.render_edits(G, edited, FLAGS.noise_mode, FLAGS.batch, seeds)  # row = input, column = strength
    image_utils.atomic_save_png(grid_path, image_utils.make_grid(images, cols=len(strengths)))
    print(f"wrote {grid_path} ({len(ws)} rows x strengths {strengths}, style inputs {layers})")
    if FLAGS.video:
        if note:
            print(note)
        sweep = np.linspace(strengths[0], strengths[-1], FLAGS.frames)
        frames_ws = editing.edit_ws(ws, direction, sweep, layers)
        progress = common.Progress(len(sweep), "frames")
        with video.VideoWriter(video_path, fps=FLAGS.fps) as writer:
            # seeded: every frame's row n has seed n's noise (the grid's rows)
            noise = SeededNoise.style_walk(G, seeds, len(sweep)) if seeded else None
            mode = "const" if seeded else FLAGS.noise_mode
            frames = video.render_frames(G, frames_ws, (len(ws), 1), mode, FLAGS.batch, progress, noise)
            for frame in frames:
                writer.append(frame)
        print(f"wrote {video_path} ({writer.count} frames)")


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise FlagError(f"give a command: sg2tf-edit {{{'|'.join(COMMANDS)}}} --network=... (see sg2tf-edit --help)")
    common.start(argv[:1] + argv[2:], FLAGS.ops)
    if argv[1] == "directions":
        directions()
    else:
        apply()


def run():
    common.run(main)


if __name__ == "__main__":
    run()
