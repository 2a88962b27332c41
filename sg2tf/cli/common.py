"""What the command-line programs share: start-up, help, errors, exit codes, outputs.

A program imports its flag module, and in `main` calls `start(argv, FLAGS.ops)` before it
imports anything that loads TensorFlow. `start` refuses stray arguments, loads TensorFlow
quietly unless `--verbose` (`sg2tf.utils.console`) and selects the op implementation.

`run(main)` runs the program under absl and gives every program the same voice:

- `--help` prints the program's docstring (what it does, with an example) and its own flags
  with their defaults; `--helpfull` still lists absl's and TensorFlow's flags as well;
- a bad flag is one line, `error: <message>`, exit status 2;
- an `sg2tf.errors.UserError` leaving `main` is one line, exit status `error.exit_code`;
- any other exception is a bug: its traceback is printed and the status is 3;
- Ctrl-C exits with 130.

The exit statuses (`EXIT_CODES`) are the same in every program, `sg2tf-dataset` included.
"""

import os
import re
import sys
import textwrap
import traceback

from absl import app, flags

import sg2tf
from sg2tf.errors import UserError
from sg2tf.utils import console
from sg2tf.utils.progress import Progress

__all__ = [
    "EXIT_CODES",
    "OutputExistsError",
    "Progress",
    "check_new_outputs",
    "fail",
    "help_text",
    "load_generator",
    "run",
    "start",
    "verbose_requested",
]

EXIT_CODES = {
    0: "done",
    1: "bad or damaged input data: a dataset, image or record (sg2tf.data.DatasetError)",
    2: "anything else the user can fix: a flag, an option, a missing or unreadable file, an output that exists",
    3: "an unexpected error (a bug): the traceback is printed",
    74: "an output the machine refused to write: full disk, quota, file size limit, I/O error (atomic.WriteError)",
    75: "sg2tf-train stopped by SIGTERM or SIGINT after writing a checkpoint; --resume=latest continues",
    130: "interrupted (Ctrl-C)",
}
BUG_EXIT_CODE = 3
INTERRUPTED_EXIT_CODE = 130
HELP_ARGS = ("-h", "-?", "--help", "-help", "--helpshort", "-helpshort")


class OutputExistsError(UserError, FileExistsError):
    """An output that exists, without `--overwrite`."""


def fail(message, code=2):
    """Prints `error: message` on stderr and exits with `code`."""
    sys.stderr.write(f"error: {message}\n")
    sys.exit(code)


def check_new_outputs(paths, overwrite):
    """Refuses to replace existing files or directories unless `overwrite` (`--overwrite`):
    the one rule of every program. Raises `OutputExistsError` naming the first one and how
    many more exist."""
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more outputs)" if len(existing) > 1 else ""
        raise OutputExistsError(f"{existing[0]}: already exists{more}; pass --overwrite to replace it")


def load_generator(network, precision=None):
    """The generator to sample from (G_ema, else G) of the network file `network`, computing in
    `precision` (`--precision`; None: as stored). Raises `NetworkImportError` naming the file
    when it holds no generator."""
    from sg2tf.io.nvlabs_tf import NetworkImportError

    G = sg2tf.load_network(network).generator
    if G is None:
        raise NetworkImportError(f"{network}: contains no generator")
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


def _flag_line(flag):
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    text = flag.help or ""
    if flag.default is not None and not text.startswith("Alias for"):
        default = str(bool(flag.default)).lower() if flag.boolean else flag.default_as_str.strip("'\"")
        text += f" (default: {default})"
    return textwrap.fill(
        f"{name}: {text}", width=100, initial_indent="  ", subsequent_indent="      ", break_on_hyphens=False
    )


def help_text(doc, flag_values=None):
    """The `--help` of a program: `doc` (its module docstring: what it does and an example),
    then every flag that sg2tf modules defined (the program's own), with their defaults."""
    flag_values = flag_values or flags.FLAGS
    lines = [textwrap.dedent(doc or "").strip(), "", "flags:"]
    for module, module_flags in flag_values.flags_by_module_dict().items():
        if module.startswith("sg2tf") or module == "__main__":
            lines += [_flag_line(f) for f in module_flags if f.name not in ("help", "helpshort")]
    lines += ["", "--helpfull also lists absl's and TensorFlow's flags."]
    return "\n".join(lines) + "\n"


def _flag_error(error):
    """One line for an absl flag error; the required-flag validators' wording made short."""
    missing = re.findall(r"Flag --(\w+) must have a value other than None", str(error))
    if missing:
        return "missing required flags: " + ", ".join(f"--{name}" for name in dict.fromkeys(missing))
    return " ".join(str(error).split())


def _parser(doc):
    """absl's flag parsing, with the program's own `--help` and one-line flag errors."""
    words = (doc or "").split()
    program = words[0].rstrip(":") if words and words[0].startswith("sg2tf") else os.path.basename(sys.argv[0])

    def parse(argv):
        args = argv[1 : argv.index("--")] if "--" in argv else argv[1:]
        if any(a in HELP_ARGS for a in args):
            sys.stdout.write(help_text(doc))
            sys.exit(0)
        try:
            return flags.FLAGS(argv)
        except flags.Error as e:
            fail(f"{_flag_error(e)} (see {program} --help)")

    return parse


def run(main, doc=None, argv=None):
    """`absl.app.run(main)` with the conventions of the module docstring.

    Args:
      main: the program's `main(argv)`.
      doc: the help text's head; default: the docstring of `main`'s module.
      argv: the command line (default: `sys.argv`).
    """
    if doc is None:
        doc = getattr(sys.modules.get(main.__module__), "__doc__", None)

    def guarded(args):
        try:
            return main(args)
        except UserError as e:
            fail(str(e), e.exit_code)
        except KeyboardInterrupt:
            sys.stderr.write("\ninterrupted\n")
            sys.exit(INTERRUPTED_EXIT_CODE)
        except Exception:
            traceback.print_exc()
            sys.stderr.write(f"an unexpected error (a bug in sg2tf?); exit status {BUG_EXIT_CODE}\n")
            sys.exit(BUG_EXIT_CODE)

    app.run(guarded, argv=argv, flags_parser=_parser(doc))


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

    console.quiet_start(verbose)
    if ops:
        from sg2tf.ops import dispatch

        dispatch.set_impl(ops)
