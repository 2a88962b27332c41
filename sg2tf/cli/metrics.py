"""sg2tf-metrics: quality metrics of a generator, one JSON line per metric.

  sg2tf-metrics --network=net.pkl --data=datasets/ffhq --metrics=fid50k_full,pr50k3_full

Feature networks are read from --inception/--vgg16/--lpips or from $SG2TF_CACHE
(~/.cache/sg2tf), where they are downloaded on first use; with SG2TF_OFFLINE=1 or no network,
every missing file is named with its URL and place.
"""

import json
import os

from absl import flags

import sg2tf.cli.metrics_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)
    import sg2tf.data
    from sg2tf.metrics import features, runner

    try:
        names = runner.parse_metrics(FLAGS.metrics)
    except FlagError as e:
        raise FlagError(f"--metrics={FLAGS.metrics}: {e}") from None
    if not names:
        raise FlagError("--metrics: nothing to compute")
    if FLAGS.num_gen is not None and FLAGS.num_gen < 2:
        raise FlagError("--num_gen must be at least 2")
    needs_data = [n for n in names if runner.METRICS[n].kind in ("fid", "kid", "pr")]
    if needs_data and not FLAGS.data:
        raise FlagError(f"{', '.join(needs_data)} compare with real images: pass --data")
    info = sg2tf.data.read_info(FLAGS.data) if FLAGS.data else None
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    if info is not None and (tuple(info.shape) != tuple(G.img_shape) or info.channels != G.img_channels):
        # WxHxC (non-square networks: H != W)
        (h, w), (gh, gw) = info.shape, G.img_shape
        raise FlagError(
            f"--data={FLAGS.data}: {w}x{h}x{info.channels} images, the generator makes {gw}x{gh}x{G.img_channels}"
        )
    runner.check_labels(G, info)
    paths = {"inception": FLAGS.inception, "vgg16": FLAGS.vgg16, "lpips": FLAGS.lpips}
    missing = []
    for kind in sorted({runner.METRICS[n].network for n in names}):  # fail before any work, naming every file
        try:
            features.locate(kind, paths[kind])
        except features.FeatureNetworkMissing as e:
            missing.append(str(e))
    if missing:
        raise features.FeatureNetworkMissing("\n".join(missing))

    out = FLAGS.out
    if out is None and os.path.isdir(FLAGS.network):
        out = os.path.join(FLAGS.network, f"metric-{'-'.join(names)}.jsonl")
    for record in runner.compute_metrics(
        names,
        G,
        info,
        network_path=FLAGS.network,
        jsonl_path=out,
        mirror=FLAGS.mirror,
        num_gen=FLAGS.num_gen,
        feature_paths=paths,
        cache=runner.StatsCache() if FLAGS.cache else None,
        batch_size=FLAGS.batch,
        seed=FLAGS.seed,
        progress_factory=common.Progress,
    ):
        print(json.dumps(record, sort_keys=True), flush=True)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
