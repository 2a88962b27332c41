"""The programs' flag modules: TensorFlow-free, and the shared flags defined once with the
same meaning everywhere (`sg2tf.cli.flags_common`)."""

import json
import os
import pathlib
import re
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
        "edit",
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
        for name in ("network", "outdir", "out", "data", "output", "inception", "vgg16", "lpips"):
            if name in f:
                # a path flag expands ~ (flags_common.define_path; an alias has its flag's parser)
                assert f[name]["kind"] == "PathParser" and f[name]["default"] is None, (stem, name)
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
        "out",
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


# Programs with a `main` run by sg2tf.cli.common.run, and the name their examples use.
PROGRAMS = {
    "generate": "sg2tf-generate",
    "style_mixing": "sg2tf-style-mixing",
    "rank": "sg2tf-rank",
    "metrics": "sg2tf-metrics",
    "convert": "sg2tf-convert",
    "export": "sg2tf-export",
    "project": "sg2tf-project",
    "video": "sg2tf-video",
    "edit": "sg2tf-edit",
    "train": "sg2tf-train",
    "demo": "./run.sh demo",
}


def test_help_lists_the_programs_own_flags_and_an_example(defined):
    # All at once: each is a fresh interpreter that loads absl and the flag module only.
    procs = {
        stem: subprocess.Popen(
            [sys.executable, "-c", f"from sg2tf.cli.{stem} import run; run()", "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stem in PROGRAMS
    }
    for stem, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{stem}: {err[-2000:]}"
        own = defined[f"{stem}_flags"]["flags"]
        listed = set(re.findall(r"^  --(?:\[no\])?(\w+):", out, re.MULTILINE))
        assert set(own) <= listed, f"{stem} --help lacks {sorted(set(own) - listed)}"
        assert "--alsologtostderr" not in out and "--helpfull" in out, stem  # absl's flags only with --helpfull
        assert re.search(rf"^\s+{re.escape(PROGRAMS[stem])}\s.*--\w+", out, re.MULTILINE), f"{stem}: no example"
        assert "(default: " in out, stem


def test_path_flags_expand_the_home_directory(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from absl import flags; from sg2tf.cli import generate_flags; F = flags.FLAGS; "
            "F(['x', '--network=~/n.pkl', '--outdir=~/out', '--projected_w=~user_that_does_not_exist/w.npz']); "
            "print(F.network, F.outdir, F.projected_w)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"{tmp_path}/n.pkl", f"{tmp_path}/out", "~user_that_does_not_exist/w.npz"]
