"""The programs' flag modules: TensorFlow-free, and the shared flags defined once with the
same meaning everywhere (`sg2tf.cli.flags_common`)."""

import json
import pathlib
import subprocess
import sys

import pytest

from sg2tf import constants

CLI = pathlib.Path(__file__).resolve().parents[1] / "sg2tf" / "cli"
FLAG_MODULES = sorted(p.stem for p in CLI.glob("*_flags.py"))

# Imports one flag module in a fresh interpreter and prints what it defined.
_DUMP = """
import json, sys
from absl import flags
name = sys.argv[1]
__import__(name)
out = {}
for flag in flags.FLAGS.flags_by_module_dict().get(name, []):
    out[flag.name] = dict(default=flag.default, enum=getattr(flag.parser, "enum_values", None),
                          kind=type(flag.parser).__name__)
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "flags": out}))
"""


@pytest.fixture(scope="module")
def defined():
    result = {}
    for stem in FLAG_MODULES:
        module = f"sg2tf.cli.{stem}"
        proc = subprocess.run([sys.executable, "-c", _DUMP, module], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{module}: {proc.stderr[-2000:]}"
        result[stem] = json.loads(proc.stdout)
    return result


def test_every_program_has_a_flag_module():
    # A program that defines flags inline would escape the checks below.
    for stem in (
        "generate",
        "style_mixing",
        "video",
        "project",
        "metrics",
        "rank",
        "convert",
        "export",
        "dataset",
        "train",
        "demo",
    ):
        assert f"{stem}_flags" in FLAG_MODULES


def test_flag_modules_load_no_tensorflow(defined):
    loaded = [stem for stem, d in defined.items() if d["tensorflow"]]
    assert not loaded, f"these flag modules import TensorFlow: {loaded}"


def test_shared_flags_mean_the_same_everywhere(defined):
    for stem, d in defined.items():
        f = d["flags"]
        assert f, f"{stem}: no flags listed under the module (flags_common must file them under it)"
        if "ops" in f:
            assert f["ops"]["enum"] == list(constants.OP_IMPLS) and f["ops"]["default"] is None, stem
        if "noise_mode" in f:
            assert set(f["noise_mode"]["enum"]) <= set(constants.SEED_NOISE_MODES), stem
        if "precision" in f:
            assert set(f["precision"]["enum"]) <= set(constants.INFERENCE_PRECISIONS), stem
        for name in ("network", "outdir", "data", "output", "inception", "vgg16", "lpips"):
            if name in f:
                assert f[name]["kind"] == "ArgumentParser" and f[name]["default"] is None, (stem, name)
        for name in ("seed", "batch"):
            if name in f:
                assert f[name]["kind"] == "IntegerParser", (stem, name)
        assert "verbose" in f and f["verbose"]["default"] is False, stem


def test_shared_flags_are_defined_only_by_flags_common():
    # The shared names may appear in a flag module only as calls of flags_common.
    shared = (
        "network",
        "ops",
        "outdir",
        "seeds",
        "seed",
        "batch",
        "data",
        "trunc",
        "trunc_cutoff",
        "class_idx",
        "noise_mode",
        "inception",
        "vgg16",
        "lpips",
        "verbose",
        "overwrite",
        "output",
    )
    offenders = []
    for path in CLI.glob("*_flags.py"):
        text = path.read_text()
        offenders += [
            f"{path.name}: --{n}"
            for n in shared
            if f'DEFINE_string("{n}"' in text
            or f'DEFINE_enum("{n}"' in text
            or f'DEFINE_integer("{n}"' in text
            or f'DEFINE_bool("{n}"' in text
            or f'DEFINE_boolean("{n}"' in text
            or f'DEFINE_float("{n}"' in text
        ]
    # train_flags keeps its own --noise_mode (its default is the preset's and its help explains training).
    offenders = [o for o in offenders if o != "train_flags.py: --noise_mode"]
    assert not offenders, offenders


def test_programs_keep_their_flag_values():
    # Values a user passes reach the program unchanged (one program, in-process parse).
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from absl import flags; from sg2tf.cli import generate_flags; "
            "F = flags.FLAGS; F(['x', '--network=n.pkl', '--outdir=o', '--seeds=1-2', '--ops=ref', "
            "'--noise_mode=none', '--trunc=0.5', '--trunc_cutoff=3', '--class_idx=2', '--batch=4']); "
            "print(F.network, F.outdir, F.seeds, F.ops, F.noise_mode, F.trunc, F.trunc_cutoff, F.class_idx, "
            "F.batch, F.verbose)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["n.pkl", "o", "1-2", "ref", "none", "0.5", "3", "2", "4", "False"]
