"""sg2tf-convert: any supported network file -> a native sg2tf snapshot (no pickle).

sg2tf-convert --network=stylegan2-ffhq-config-f.pkl --out=ffhq-snapshot
"""

import os

from absl import flags

import sg2tf.cli.convert_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    import sg2tf
    from sg2tf.io import snapshot

    if os.path.exists(FLAGS.out) and not FLAGS.overwrite:
        common.fail(f"{FLAGS.out} exists; pass --overwrite to replace it")
    try:
        nets = sg2tf.load_network(FLAGS.network)
    except (ValueError, OSError) as e:
        common.fail(str(e))
    networks = {"G": nets.G, "D": nets.D, "G_ema": nets.G_ema}
    metadata = dict(nets.metadata, converted_from=os.path.abspath(FLAGS.network))
    path = snapshot.save_snapshot(FLAGS.out, networks, metadata=metadata)
    present = ", ".join(k for k, v in networks.items() if v is not None)
    print(f"wrote {path} ({present})")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
