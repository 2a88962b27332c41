"""sg2tf-project: projects target images into W (or W+ with --w_plus).

  sg2tf-project --network=net.pkl --target=face.png --outdir=out [--save_video]
  sg2tf-project --network=net.pkl --targets=photos/ --outdir=proj [--batch=8]

--target writes out/projected_w.npz (key `w`, [1, num_ws, w_dim]; `sg2tf-generate
--projected_w` and the official scripts read it), out/proj.png and out/target.png.
--targets (a folder or a glob) writes those into out/<image name>/ for every image, and
out/projections.json with the final distance of each; unreadable images are named and
skipped, and a rerun skips the images already projected.
"""

import os

from absl import flags

import sg2tf.cli.project_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)
    from sg2tf import sampling
    from sg2tf.tools import projection

    if (FLAGS.target is None) == (FLAGS.targets is None):
        raise FlagError("give exactly one of --target and --targets")
    paths = projection.list_targets(FLAGS.targets) if FLAGS.targets else None
    outdir = FLAGS.outdir
    if FLAGS.target:
        video = [os.path.join(outdir, "proj.mp4"), os.path.join(outdir, "proj.gif")] if FLAGS.save_video else []
        names = [os.path.join(outdir, n) for n in ("projected_w.npz", "proj.png", "target.png")]
        common.check_new_outputs(names + video, FLAGS.overwrite)
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    c = sampling.class_labels(G, FLAGS.class_idx, 1)
    target = projection.load_target(FLAGS.target, G.img_shape, G.img_channels) if FLAGS.target else None
    distance = projection.distance_function(FLAGS.distance, FLAGS.lpips)
    cfg = projection.ProjectionConfig(
        num_steps=FLAGS.num_steps,
        w_plus=FLAGS.w_plus,
        optimize_noise=FLAGS.optimize_noise,
        seed=FLAGS.seed,
        w_avg_samples=FLAGS.w_avg_samples,
    )
    if target is not None:
        os.makedirs(outdir, exist_ok=True)
        progress = common.Progress(FLAGS.num_steps, "projecting")
        result = projection.project(G, target, distance, cfg, c=c, progress=progress)
        projection.write_outputs(outdir, G, target, result, FLAGS.save_video)
        print(
            f"final {FLAGS.distance} distance {result.distance:.4g}, noise regularization "
            f"{result.noise_regularization:.3g} (weighted x{cfg.regularize_noise_weight:g} in the loss); "
            f"wrote {outdir}/projected_w.npz"
        )
        return
    summary = projection.project_targets(
        G,
        paths,
        outdir,
        distance,
        cfg,
        batch_size=FLAGS.batch,
        c=c,
        distance_name=FLAGS.distance,
        save_video=FLAGS.save_video,
        overwrite=FLAGS.overwrite,
        progress=lambda total: common.Progress(total, "projecting (image steps)"),
        info={"network": FLAGS.network, "precision": FLAGS.precision, "class_idx": FLAGS.class_idx},
    )
    print(
        f"{summary['projected']} of {len(paths)} images projected, {summary['failed']} skipped; "
        f"wrote {outdir}/{projection.SUMMARY}"
    )


def run():
    common.run(main)


if __name__ == "__main__":
    run()
