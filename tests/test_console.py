"""A quiet console: the programs print neither TensorFlow's start-up notices nor absl INFO
lines unless --verbose; warnings that matter still appear, once (sg2tf.utils.console)."""

import os
import subprocess
import sys

import pytest
from conftest import program_env

from sg2tf.utils import console

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "tests", "data", "fixtures", "nvlabs_pkl", "sg2-f32.pkl")
# What the issue saw on a newcomer's console (and what --verbose must still show).
NOISE = (
    "oneDNN custom operations",
    "Could not find cuda drivers",
    "cuInit",
    "absl::InitializeLog",
    "cpu_feature_guard",
    "Sharding callback duration",
)


def _run(args, **env):
    return subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT, env=program_env(**env))


def _noise(text):
    return [line for line in text.splitlines() if any(n in line for n in NOISE)]


@pytest.fixture(scope="module")
def generate_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen")
    base = [sys.executable, "-m", "sg2tf.cli.generate", f"--network={FIXTURE}", "--seeds=0", "--ops=ref"]
    quiet = _run(base + [f"--outdir={out / 'quiet'}"])
    verbose = _run(base + [f"--outdir={out / 'verbose'}", "--verbose"])
    return quiet, verbose, out


def test_program_start_up_is_quiet(generate_runs):
    quiet, verbose, out = generate_runs
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert (out / "quiet" / "seed0000.png").is_file()
    assert not _noise(quiet.stderr), quiet.stderr
    # The program's own output is untouched.
    assert "wrote 1 images" in quiet.stdout and "generating" in quiet.stderr


def test_verbose_shows_tensorflow_start_up(generate_runs):
    _, verbose, _ = generate_runs
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert _noise(verbose.stderr), "--verbose must show TensorFlow's start-up lines:\n" + verbose.stderr


def test_user_log_level_is_respected(tmp_path):
    # TF_CPP_MIN_LOG_LEVEL set by the user: the programs leave TensorFlow's logging alone.
    r = _run([sys.executable, "-c", _SNIPPET, str(tmp_path), "0"], TF_CPP_MIN_LOG_LEVEL="0")
    assert r.returncode == 0, r.stderr[-3000:]
    assert _noise(r.stderr), r.stderr


# A program start-up (sg2tf.cli.common.start under absl) followed by what training does: a
# checkpoint write (absl INFO "Sharding callback duration") and a Python warning.
_SNIPPET = """
import sys, warnings
from absl import app
from sg2tf.cli import common

def main(argv):
    common.start(argv, verbose=sys.argv[2] == "1")
    import tensorflow as tf
    tf.train.Checkpoint(v=tf.Variable(1.0)).write(sys.argv[1] + "/ckpt/state")
    for _ in range(3):
        warnings.warn("sg2tf: a warning that matters", RuntimeWarning, stacklevel=1)
    print("done")

app.run(main, argv=sys.argv[:1])
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_training_logs_and_warnings(tmp_path, verbose):
    r = _run([sys.executable, "-c", _SNIPPET, str(tmp_path), str(int(verbose))])
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "done"
    assert ("Sharding callback duration" in r.stderr) == verbose, r.stderr
    assert r.stderr.count("a warning that matters") == 1, r.stderr


def test_reference_ops_fallback_warning_still_shown_once(tmp_path):
    # No custom-ops library: `auto` falls back to the reference ops and says so, once.
    r = _run(
        [
            sys.executable,
            "-m",
            "sg2tf.cli.generate",
            f"--network={FIXTURE}",
            "--seeds=0,1",
            "--batch=1",
            f"--outdir={tmp_path}",
        ],
        SG2TF_OPS_LIBRARY=str(tmp_path / "missing.so"),
        SG2TF_OPS="auto",
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("using the reference TensorFlow ops") == 1, r.stderr
    assert not _noise(r.stderr), r.stderr


def test_notice_patterns():
    assert console.is_notice(
        "I0000 00:00:1.1 7851 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used."
    )
    assert console.is_notice(
        "E0000 00:00:1.2 7851 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA "
        "error: Failed call to cuInit: UNKNOWN ERROR (303)"
    )
    assert not console.is_notice("W0000 00:00:1.3 1 op_kernel.cc:1] OUT_OF_RANGE: End of sequence")
    assert not console.is_notice("error: data/x: broken record 3")
