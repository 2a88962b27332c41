"""One user-error type: every error a user can fix derives from sg2tf.errors.UserError (so the
programs catch one type) and keeps the base it had, so existing `except` clauses still work."""

import importlib
import pathlib
import pickle
import re
import subprocess
import sys

import pytest
from conftest import program_env

from sg2tf.errors import UserError

# (module, class, the base it had before UserError, exit status of the programs)
USER_ERRORS = [
    ("sg2tf.data.errors", "DatasetError", Exception, 1),
    ("sg2tf.data", "DatasetError", Exception, 1),
    ("sg2tf.training.options", "OptionsError", ValueError, 2),
    ("sg2tf.training.presets", "PresetError", ValueError, 2),
    ("sg2tf.training.setup", "TrainingError", Exception, 2),
    ("sg2tf.metrics.features", "FeatureNetworkError", ValueError, 2),
    ("sg2tf.metrics.features", "FeatureNetworkMissing", FileNotFoundError, 2),
    ("sg2tf.io.nvlabs_tf", "NetworkImportError", ValueError, 2),
    ("sg2tf.io.safe_pickle", "UnsafePickleError", pickle.UnpicklingError, 2),
    ("sg2tf.io.load", "NetworkFileMissing", FileNotFoundError, 2),
    ("sg2tf.io.nvlabs_torch", "TorchMissing", ImportError, 2),
    ("sg2tf.errors", "FlagError", ValueError, 2),
    ("sg2tf.cli.common", "OutputExistsError", FileExistsError, 2),
]


@pytest.mark.parametrize("module,name,old_base,code", USER_ERRORS, ids=[f"{m}.{n}" for m, n, _, _ in USER_ERRORS])
def test_user_errors_share_one_base(module, name, old_base, code):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, UserError) and issubclass(cls, old_base)
    assert cls.exit_code == code


def test_run_prints_a_user_error_as_one_line():
    code = (
        "from sg2tf.cli import common\n"
        "from sg2tf.errors import UserError\n"
        "class Bad(UserError):\n    exit_code = 3\n"
        "def main(argv):\n    raise Bad('data/x: record 3 is damaged')\n"
        "common.run(main)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3
    assert r.stderr == "error: data/x: record 3 is damaged\n"


ROOT = pathlib.Path(__file__).resolve().parents[1]
TORCH_PICKLE = ROOT / "tests" / "data" / "nvlabs_synth" / "torch-ada-cond-fp16-16.pkl"
# Runs a program's entry point with PyTorch made unimportable (as on a machine without the extra).
_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
module, sys.argv = sys.argv[1], [sys.argv[1]] + sys.argv[2:]
__import__(module, fromlist=["run"]).run()
"""


def _python(*args, **kwargs):
    kwargs.setdefault("env", program_env())
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, **kwargs)


def test_run_exit_statuses():
    # A bad flag: one line, status 2; a bug: its traceback, status 3 (sg2tf.cli.common.EXIT_CODES).
    code = (
        "import sys\nfrom absl import flags\nfrom sg2tf.cli import common\n"
        "flags.DEFINE_integer('n', 1, 'N.')\n"
        "def main(argv):\n    raise KeyError('a bug')\n"
        "common.run(main, doc='sg2tf-x: a test program.')\n"
    )
    bad_flag = _python("-c", code, "--n=x")
    assert bad_flag.returncode == 2 and bad_flag.stderr.count("\n") == 1
    assert bad_flag.stderr.startswith("error: ") and "--n=x" in bad_flag.stderr and "sg2tf-x --help" in bad_flag.stderr
    bug = _python("-c", code)
    assert bug.returncode == 3 and "Traceback" in bug.stderr and "KeyError: 'a bug'" in bug.stderr


def test_exit_codes_are_documented_once():
    from sg2tf.cli import common

    readme = (ROOT / "README.md").read_text()
    for code in common.EXIT_CODES:
        assert re.search(rf"^\| {code} \| ", readme, re.MULTILINE), f"README's exit-status table lacks {code}"
    assert common.BUG_EXIT_CODE in common.EXIT_CODES and common.INTERRUPTED_EXIT_CODE in common.EXIT_CODES
    assert {code for *_, code in USER_ERRORS} <= set(common.EXIT_CODES) - {0, common.BUG_EXIT_CODE}


@pytest.mark.parametrize("program", ["sg2tf.cli.generate", "sg2tf.cli.convert"])
def test_torch_pickle_without_torch_is_one_line(program, tmp_path):
    out = [f"--outdir={tmp_path / 'out'}", "--seeds=0", "--class_idx=0"] if program.endswith("generate") else []
    out = out or [f"--out={tmp_path / 'snap'}"]
    r = _python("-c", _WITHOUT_TORCH, program, f"--network={TORCH_PICKLE}", *out)
    assert r.returncode == 2, r.stderr[-3000:]
    assert r.stderr == f"error: {TORCH_PICKLE}: a stylegan2-ada-pytorch pickle; reading it needs PyTorch: " + (
        "pip install 'sg2tf[torch]'\n"
    )


def test_class_idx_errors_share_one_wording():
    import numpy as np

    from sg2tf import sampling
    from sg2tf.errors import FlagError

    class G:
        c_dim = 3

    for idx, start in ((None, "--class_idx: missing"), (3, "--class_idx=3: out of range"), (-1, "--class_idx=-1")):
        with pytest.raises(FlagError) as e:
            sampling.class_labels(G, idx, 1)
        assert str(e.value).startswith(start) and str(e.value).endswith("pass --class_idx in 0-2")
    G.c_dim = 0
    with pytest.raises(FlagError, match="--class_idx=1: the network is unconditional"):
        sampling.class_labels(G, 1, 1)
    G.c_dim = 3
    np.testing.assert_array_equal(sampling.class_labels(G, 2, 2), [[0, 0, 1], [0, 0, 1]])


def test_a_zip_given_as_dataset_names_the_converting_command(tmp_path):
    from sg2tf.data import DatasetError, read_info

    archive = tmp_path / "mine.zip"
    archive.write_bytes(b"PK\x05\x06" + bytes(18))
    with pytest.raises(DatasetError) as e:
        read_info(str(archive))
    assert str(e.value).endswith(
        f"convert it: sg2tf-dataset from_zip --source={archive} --tfrecord_dir={tmp_path / 'mine'}"
    )
