"""sg2tf-bench: speed and memory benchmarks with JSON output.

  sg2tf-bench ops --repeat=3
  sg2tf-bench NAME --help     (NAME one of ops, data, generator, train, compare)

Each benchmark lives in `sg2tf.benchmarks.NAME` and returns a dict printed as JSON.
"""

import importlib
import json
import sys

from sg2tf.cli import common, flags_common
from sg2tf.utils import console

BENCHMARKS = ("ops", "data", "generator", "train", "compare")


def run():
    argv = sys.argv
    if len(argv) >= 2 and argv[1] in common.HELP_ARGS:
        sys.stdout.write(__doc__)
        sys.exit(0)
    if len(argv) < 2 or argv[1] not in BENCHMARKS:
        common.fail(f"usage: sg2tf-bench {{{'|'.join(BENCHMARKS)}}} [--flags] (sg2tf-bench NAME --help)")
    name = argv[1]
    flags_common.define_verbose()
    # The benchmark modules load TensorFlow when imported (some set its environment first),
    # before absl parses the flags.

    module = console.quiet_start(
        common.verbose_requested(argv[2:]), load=lambda: importlib.import_module(f"sg2tf.benchmarks.{name}")
    )

    def main(args):
        result = module.main(args)
        print(json.dumps({"benchmark": name, **result}, indent=2, sort_keys=True))

    common.run(main, doc=f"sg2tf-bench {name}: " + (module.__doc__ or ""), argv=[f"sg2tf-bench {name}"] + argv[2:])


if __name__ == "__main__":
    run()
