"""sg2tf-rank: sorts a dataset's images by the discriminator's score.

  sg2tf-rank --network=snapshot.pkl --data=datasets/faces --outdir=rank --export_percent=2

writes rank/ranking.tsv (rank, index, name, score, score_std; lowest score first: the
images D finds least real are the first to review; `name` is the source file when
sg2tf-dataset wrote the dataset from files), rank/stability.json and optionally
rank/bottom.png and rank/top.png. Images are held in memory at D's resolution.
To write the dataset without the lowest-ranked 10%:

  sg2tf-dataset filter --tfrecord_dir=datasets/faces --dest=datasets/faces-clean \\
      --rank_file=rank/ranking.tsv --drop_fraction=0.1

(the program prints this command for the dataset and output it was given).
"""

import json
import os
import shlex

from absl import flags

import sg2tf
import sg2tf.cli.rank_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError
from sg2tf.utils import images as image_utils
from sg2tf.utils.atomic import atomic_file

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)
    import sg2tf.data
    from sg2tf.data.names import read_names
    from sg2tf.io.nvlabs_tf import NetworkImportError
    from sg2tf.tools import rank

    if FLAGS.shuffles < 1 or FLAGS.batch < 1:
        raise FlagError("--shuffles and --batch must be positive")
    if FLAGS.export_percent is not None and not 0 < FLAGS.export_percent <= 50:
        raise FlagError(f"--export_percent={FLAGS.export_percent}: expected (0, 50]")
    outputs = ["ranking.tsv", "stability.json"] + (["bottom.png", "top.png"] if FLAGS.export_percent else [])
    common.check_new_outputs([os.path.join(FLAGS.outdir, n) for n in outputs], FLAGS.overwrite)
    info = sg2tf.data.read_info(FLAGS.data)
    D = sg2tf.load_network(FLAGS.network).D
    if D is None:
        raise NetworkImportError(f"{FLAGS.network}: contains no discriminator")
    images, labels = rank.load_for_ranking(D, info, FLAGS.limit)
    names = read_names(info)

    progress = common.Progress(len(images) * FLAGS.shuffles, "scoring")
    scores = rank.score_shuffles(D, images, labels, FLAGS.shuffles, FLAGS.batch, FLAGS.seed, progress)
    order, mean, std = rank.ranking(scores)
    os.makedirs(FLAGS.outdir, exist_ok=True)
    tsv = os.path.join(FLAGS.outdir, "ranking.tsv")
    rank.write_tsv(tsv, order, mean, std, labels, None if names is None else names[: len(images)])
    stats = rank.stability(scores)
    with atomic_file(os.path.join(FLAGS.outdir, "stability.json")) as tmp, open(tmp, "w") as f:
        json.dump(stats, f, indent=1)
    if FLAGS.export_percent:
        bottom, top = rank.export_grids(images, order, FLAGS.export_percent)
        image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "bottom.png"), bottom)
        image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "top.png"), top)
    print(
        f"ranked {len(images)} images over {FLAGS.shuffles} shuffles: score spread "
        f"{stats['score_spread']:.4g}, mean std across shuffles {stats['mean_shuffle_std']:.3g}"
        f" ({100 * stats['noise_ratio']:.1f}%), min Spearman {stats['min_spearman']:.3f}"
    )
    print(
        f"wrote {tsv}"
        + ("" if names is not None else " (the dataset records no source file names: images are named by record index)")
    )
    clean = FLAGS.data.rstrip("/") + "-clean"
    command = ["sg2tf-dataset", "filter", f"--tfrecord_dir={FLAGS.data}", f"--dest={clean}"]
    command += [f"--rank_file={tsv}", "--drop_fraction=0.1"]
    print(f"to write {clean} without the lowest-ranked 10%:\n  {shlex.join(command)}")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
