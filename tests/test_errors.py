"""One user-error type: every error a user can fix derives from sg2tf.errors.UserError (so the
programs catch one type) and keeps the base it had, so existing `except` clauses still work."""

import importlib
import pickle
import subprocess
import sys

import pytest

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
