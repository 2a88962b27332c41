"""sg2tf-project: projects a target image into W (or W+ with --w_plus).

  sg2tf-project --network=net.pkl --target=face.png --outdir=out [--save_video]

writes out/projected_w.npz (key `w`, [1, num_ws, w_dim]; `sg2tf-generate --projected_w`
and the official scripts read it), out/proj.png and out/target.png.
"""

import os

from absl import flags

import sg2tf.cli.project_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common

FLAGS = flags.FLAGS


def load_target(path, resolution, channels):
    """The target as HWC uint8: center-cropped to a square, resized (Lanczos)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
        im = im.resize((resolution, resolution), Image.LANCZOS)
        arr = np.asarray(im, np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def main(argv):
    common.start(argv, FLAGS.ops)
    import numpy as np

    from sg2tf import sampling
    from sg2tf.metrics import features
    from sg2tf.tools import projection, video
    from sg2tf.utils import images as image_utils

    try:
        if FLAGS.num_steps < 1:
            raise ValueError("--num_steps must be positive")
        G = common.load_generator(FLAGS.network, FLAGS.precision)
        c = sampling.class_labels(G, FLAGS.class_idx, 1)
        if not os.path.isfile(FLAGS.target):
            raise FileNotFoundError(f"{FLAGS.target}: no such target image")
        target = load_target(FLAGS.target, G.img_resolution, G.img_channels)
        if FLAGS.distance == "lpips":
            distance = features.load("lpips", FLAGS.lpips).distance
        else:
            distance = projection.pixel_distance
    except (ValueError, FileNotFoundError, OSError) as e:
        common.fail(str(e))

    os.makedirs(FLAGS.outdir, exist_ok=True)
    cfg = projection.ProjectionConfig(
        num_steps=FLAGS.num_steps,
        w_plus=FLAGS.w_plus,
        optimize_noise=FLAGS.optimize_noise,
        seed=FLAGS.seed,
        w_avg_samples=FLAGS.w_avg_samples,
    )
    progress = common.Progress(FLAGS.num_steps, "projecting")
    history, loss, noise = projection.project(G, target, distance, cfg, c=c, progress=progress)
    projection.save_projected_w(os.path.join(FLAGS.outdir, "projected_w.npz"), history[-1])
    image = projection.synthesize_with_noise(G, history[-1:], noise)[0]
    image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "proj.png"), image)
    image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "target.png"), target)
    if FLAGS.save_video:
        path, note = video.resolve_output(os.path.join(FLAGS.outdir, "proj.mp4"))
        if note:
            print(note)
        with video.VideoWriter(path, fps=60) as writer:
            for start in range(0, len(history), 16):
                frames = projection.synthesize_with_noise(G, history[start : start + 16], noise)
                for frame in frames:
                    writer.append(np.concatenate([target, frame], axis=1))
    print(f"final loss {loss:.4g}; wrote {FLAGS.outdir}/projected_w.npz")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
