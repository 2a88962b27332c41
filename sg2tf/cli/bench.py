"""sg2tf-bench: speed and memory benchmarks with JSON output.

Usage: `sg2tf-bench NAME [--flags]`, NAME one of `ops`, `data`, `generator`, `train`, `compare`.
Each benchmark lives in `sg2tf.benchmarks.NAME` and returns a dict printed as JSON.
"""

import importlib
import json
import sys

from absl import app

from sg2tf.cli import common, flags_common

BENCHMARKS = ("ops", "data", "generator", "train", "compare")


def run():
    argv = sys.argv
    if len(argv) < 2 or argv[1] not in BENCHMARKS:
        sys.stderr.write(f"usage: sg2tf-bench {{{'|'.join(BENCHMARKS)}}} [--flags]\n")
        sys.exit(2)
    name = argv[1]
    flags_common.define_verbose()
    # The benchmark modules load TensorFlow when imported, before absl parses the flags.
    from sg2tf.utils import console

    try:
        module = console.quiet_start(
            common.verbose_requested(argv[2:]), load=lambda: importlib.import_module(f"sg2tf.benchmarks.{name}")
        )
    except ModuleNotFoundError as e:
        if e.name == f"sg2tf.benchmarks.{name}":
            sys.stderr.write(f"sg2tf-bench: benchmark {name!r} is not available in this build\n")
            sys.exit(2)
        raise

    from sg2tf.errors import UserError

    def main(args):
        try:
            result = module.main(args)
        except UserError as e:  # a bad flag: say which, no traceback
            sys.stderr.write(f"sg2tf-bench {name}: {e}\n")
            sys.exit(e.exit_code)
        print(json.dumps({"benchmark": name, **result}, indent=2, sort_keys=True))

    app.run(main, argv=[f"sg2tf-bench {name}"] + argv[2:])


if __name__ == "__main__":
    run()
