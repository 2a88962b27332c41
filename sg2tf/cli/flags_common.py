"""Flags that several programs share, defined in one place.

absl keeps one flag registry per process and a flag can be defined only once, so every
program has its own flag module (`sg2tf/cli/<program>_flags.py`) and that module calls the
functions here for the flags it shares with other programs. Each function fixes the flag's
name, type, choices and meaning; a program passes its own default or help text only where
they really differ (e.g. what `--outdir` receives). The flags are listed under the calling
flag module in `--help`, as if it had defined them itself.

Conventions every program follows:

- paths are `define_path` flags: `~` is expanded (`--image_dir=~/photos` works as written);
- outputs: `--outdir` is a directory the program fills with files it names itself
  (`seed0000.png`, `ranking.tsv`); `--out` is one output the user names (a file, or a
  snapshot directory); older names stay as aliases (`--output` for `--out`);
- an existing output is replaced only with `--overwrite` (`sg2tf.cli.common.check_new_outputs`);
- programs that generate images take `--noise_mode=const|seeded|random|none`.

Importing this module loads no TensorFlow (tests/test_cli_flags.py checks every flag module).
"""

import os
import sys

from absl import flags

from sg2tf.constants import INFERENCE_PRECISIONS, NOISE_MODES, OP_IMPLS, SEED_NOISE_MODES

NETWORK_HELP = "Network: NVlabs pickle, stylegan2-ada-pytorch pickle (torch extra) or sg2tf snapshot directory."


def _caller(depth=2):
    """The module that called the `define_*` function (absl files the flag under it)."""
    frame = sys._getframe(depth)
    return frame.f_globals.get("__name__")


class PathParser(flags.ArgumentParser):
    """A file or directory path, with `~` and `~user` expanded as a shell would."""

    syntactic_help = "a path"

    def parse(self, argument):
        return None if argument is None else os.path.expanduser(argument)

    def flag_type(self):
        return "path"


def define_path(name, default, help, aliases=(), module_name=None):
    """A path flag (`PathParser`), with optional alias names (`aliases`) for older spellings."""
    module_name = module_name or _caller()
    flags.DEFINE(PathParser(), name, default, help, serializer=flags.ArgumentSerializer(), module_name=module_name)
    for alias in aliases:
        flags.DEFINE_alias(alias, name, module_name=module_name)


def define_network(help=NETWORK_HELP):
    """`--network`: the network file or snapshot to load (required where the program needs it)."""
    define_path("network", None, help, module_name=_caller())


def define_ops(default=None, help="Op implementation (default: $SG2TF_OPS or auto)."):
    """`--ops`: the op implementation (`sg2tf.ops.dispatch`)."""
    flags.DEFINE_enum("ops", default, list(OP_IMPLS), help, module_name=_caller())


def define_outdir(help="Output directory.", aliases=()):
    """`--outdir`: a directory the program fills with files it names; `help` says what goes
    there; `aliases`: older names of the flag."""
    define_path("outdir", None, help, aliases, module_name=_caller())


def define_out(help, aliases=("output",)):
    """`--out`: one output the user names (a file or a snapshot directory); `help` says which;
    `--output` is its alias unless `aliases` says otherwise."""
    define_path("out", None, help, aliases, module_name=_caller())


def define_output(help):
    """`--output`: the older name of `--out` (`define_out`), for flag modules not yet moved."""
    define_path("output", None, help, module_name=_caller())


def define_overwrite(help="Replace outputs that exist (without it, the program stops and names them)."):
    """`--overwrite`: replace an existing output (off by default; `sg2tf.cli.common.check_new_outputs`)."""
    flags.DEFINE_bool("overwrite", False, help, module_name=_caller())


def define_seeds(default=None, help="Seeds, e.g. 0-3,42."):
    """`--seeds`: a list of seeds and ranges (`sg2tf.utils.seeds.parse_range_list`)."""
    flags.DEFINE_string("seeds", default, help, module_name=_caller())


def define_seed(default=0, help="Seed."):
    """`--seed`: one random seed."""
    flags.DEFINE_integer("seed", default, help, module_name=_caller())


def define_batch(default, help="Images per batch.", **args):
    """`--batch`: images per batch (`args`: e.g. `lower_bound`)."""
    flags.DEFINE_integer("batch", default, help, module_name=_caller(), **args)


def define_data(help="Dataset directory (.tfrecords)."):
    """`--data`: a TFRecord dataset directory (sg2tf-dataset)."""
    define_path("data", None, help, module_name=_caller())


def define_truncation(cutoff_help="Truncate only the first N ws (default: all).", psi=True, **cutoff_args):
    """`--trunc` (truncation psi; unless `psi` is False) and `--trunc_cutoff`."""
    module = _caller()
    if psi:
        flags.DEFINE_float("trunc", 1.0, "Truncation psi (1 = off).", module_name=module)
    flags.DEFINE_integer("trunc_cutoff", None, cutoff_help, module_name=module, **cutoff_args)


def define_class_idx():
    """`--class_idx`: the class label of a conditional network."""
    flags.DEFINE_integer("class_idx", None, "Class label for conditional networks.", module_name=_caller())


def define_noise_mode(default="const", help="Noise mode.", exclude=(), seeded=False):
    """`--noise_mode`: how G's noise inputs are filled (`sg2tf.constants.NOISE_MODES` less `exclude`;
    with `seeded`, also the TF scripts' seed rule, `sg2tf.sampling`)."""
    choices = [m for m in (SEED_NOISE_MODES if seeded else NOISE_MODES) if m not in exclude]
    flags.DEFINE_enum("noise_mode", default, choices, help, module_name=_caller())


PRECISION_HELP = (
    "How the network computes: auto (float32 on a CPU, the network's own mixed precision "
    "where a GPU is present), float32 (the official force_fp32=True outputs), network (as "
    "trained), float16 or bfloat16 (that type in the network's reduced-precision blocks)."
)


def define_precision(default="auto", help=PRECISION_HELP, choices=INFERENCE_PRECISIONS):
    """`--precision`: the compute precision of the network (`sg2tf.networks.precision`)."""
    flags.DEFINE_enum("precision", default, list(choices), help, module_name=_caller())


def define_feature_networks(inception=None, vgg16=None, lpips=None):
    """`--inception`, `--vgg16`, `--lpips`: the metric and projection feature networks; a flag
    is defined only when its help text is given (programs take different subsets)."""
    module = _caller()
    for name, help in (("inception", inception), ("vgg16", vgg16), ("lpips", lpips)):
        if help is not None:
            define_path(name, None, help, module_name=module)


def define_verbose():
    """`--verbose`: show TensorFlow's start-up and INFO logs (`sg2tf.utils.console`)."""
    flags.DEFINE_bool(
        "verbose",
        False,
        "Show TensorFlow's start-up messages and INFO logs (otherwise only warnings and errors; "
        "$SG2TF_VERBOSE=1 or a $TF_CPP_MIN_LOG_LEVEL of your own shows them too).",
        module_name=_caller(),
    )
