"""What the command-line programs share: start-up, errors, progress.

A program imports its flag module, and in `main` calls `start(argv, FLAGS.ops)` before it
imports anything that loads TensorFlow. `start` refuses stray arguments, loads TensorFlow
quietly unless `--verbose` (`sg2tf.utils.console`) and selects the op implementation.
`run(main)` runs the program, turning an `sg2tf.errors.UserError` into one line on stderr.
"""

import sys

from absl import app, flags

from sg2tf.errors import UserError
from sg2tf.utils.progress import Progress

__all__ = ["Progress", "fail", "load_generator", "run", "start", "verbose_requested"]


def fail(message, code=2):
    """Prints `error: message` on stderr and exits with `code`."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def load_generator(network, precision=None):
    """The generator to sample from (G_ema, else G) of the network file `network`, computing in
    `precision` (`--precision`; None: as stored). Raises ValueError naming the file when it
    holds no generator."""
    import sg2tf

    G = sg2tf.load_network(network).generator
    if G is None:
        raise ValueError(f"{network}: contains no generator")
    if precision is not None:
        from sg2tf.networks.precision import with_precision

        G = with_precision(G, precision)
    return G


def verbose_requested(args):
    """Whether `args` (command-line arguments, not yet parsed) ask for `--verbose`: for programs
    that must start TensorFlow before absl parses their flags (`sg2tf-bench`)."""
    verbose = False
    for arg in args:
        if arg == "--":
            break
        if arg in ("--verbose", "-verbose"):
            verbose = True
        elif arg in ("--noverbose", "-noverbose"):
            verbose = False
        elif arg.startswith(("--verbose=", "-verbose=")):
            verbose = arg.split("=", 1)[1].lower() in ("true", "t", "1", "yes", "y")
    return verbose


def run(main):
    """`absl.app.run(main)`, where a `UserError` leaving `main` prints `error: <message>` (no
    traceback) and exits with the error's `exit_code`."""

    def guarded(argv):
        try:
            return main(argv)
        except UserError as e:
            fail(str(e), e.exit_code)

    app.run(guarded)


def start(argv, ops=None, verbose=None):
    """What every program does first.

    Args:
      argv: the arguments absl left over (only the program name is allowed).
      ops: the op implementation (`--ops`), or None for the default.
      verbose: show TensorFlow's start-up and INFO logs; None: the `--verbose` flag if the
        program defines it.
    """
    if len(argv) > 1:
        fail(f"unexpected arguments {argv[1:]}")
    if verbose is None:
        verbose = "verbose" in flags.FLAGS and bool(flags.FLAGS["verbose"].value)
    from sg2tf.utils import console

    console.quiet_start(verbose)
    if ops:
        from sg2tf.ops import dispatch

        dispatch.set_impl(ops)
