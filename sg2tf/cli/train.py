"""sg2tf-train: train StyleGAN2 / StyleGAN2-ADA on a TFRecord dataset.

  sg2tf-train --data=datasets/shapes32 --outdir=runs --cfg=tiny --kimg=100 --snap=10
  sg2tf-train --resume=latest --outdir=runs          # continue the newest run exactly
  sg2tf-train --data=~/photos --outdir=runs --cfg=paper256 --mirror   # a folder (or ZIP) read directly

This program only turns its flags into options: the loop is `sg2tf.training.loop.train`
(see docs/training.md).
"""

import os
import sys

from absl import flags

from sg2tf.cli import common
from sg2tf.training.options import DEFAULTS
from sg2tf.utils import atomic

FLAGS = flags.FLAGS


def given_options():
    """`{option: value}` of the flags given on the command line (or in a --flagfile);
    the others take their defaults, the preset's or the resumed run's values."""

    return {name: FLAGS[name].value for name in DEFAULTS if name in FLAGS and FLAGS[name].present}


def main(argv):
    common.start(argv)
    from sg2tf.training import preemption
    from sg2tf.training.loop import train

    with preemption.StopRequest():  # SIGTERM / SIGINT: a checkpoint, then exit status 75
        try:
            train(given_options())
        except preemption.TrainingStopped as e:  # the loop printed why
            # The checkpoint is on disk and the logs are closed: leave without the interpreter's
            # teardown, which took 41 s of a 46 s stop under load (the notice may be 30 s).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(e.exit_code)
        except OSError as e:  # a log or stats file the machine refused to write
            if atomic.write_failure(e) is None:
                raise
            common.fail(f"{e.filename}: cannot write it ({atomic.write_failure(e)})", atomic.WriteError.exit_code)


def run():
    # Flags are defined here, not at import: the loop is a library function that tests and
    # other programs call in-process, where another program's flags may already exist.
    from sg2tf.cli import train_flags  # noqa: F401 (defines the flags)

    common.run(main)  # a UserError, however late in training, is one line with its exit code


if __name__ == "__main__":
    run()
