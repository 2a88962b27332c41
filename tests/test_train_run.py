"""sg2tf-train end to end: run directory, presets, resume exactness after SIGKILL, errors."""

import json
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import tiny_run

from sg2tf.training import checkpoints
from sg2tf.training.options import OptionsError
from sg2tf.training.setup import TrainingError

TINY = tiny_run()


pytestmark = pytest.mark.usefixtures("fast_compiles")


def _train(**raw):
    from sg2tf.training.loop import train

    return train(raw)


def _ema_weights(run_dir):
    import sg2tf

    snaps = sorted(n for n in os.listdir(run_dir) if n.startswith("network-snapshot-"))
    nets = sg2tf.load_network(os.path.join(run_dir, snaps[-1]))
    return [v.numpy() for v in nets.G_ema.variables] + [v.numpy() for v in nets.D.variables]


def test_run_directory_contents(shapes, tmp_path):
    run = _train(data=shapes, outdir=str(tmp_path), kimg=0.016, aug="ada", p=0.1, **TINY)
    names = set(os.listdir(run))
    for name in (
        "training_options.json",
        "log.txt",
        "stats.jsonl",
        "fakes_init.png",
        "reals.png",
        "fakes000000.008.png",  # snapshots under 1 kimg apart do not overwrite each other
        "fakes000000.016.png",
        "network-snapshot-000000.008",
        "network-snapshot-000000.016",
        "checkpoints",
    ):
        assert name in names, name
    assert any(n.startswith("events.out.tfevents") for n in names)
    ticks = [json.loads(line) for line in open(os.path.join(run, "stats.jsonl"))]
    assert [t["tick"] for t in ticks] == [1, 2]
    for key in ("tick", "kimg", "sec_per_kimg", "loss_G", "loss_D", "augment_p", "skipped_steps"):
        assert key in ticks[-1], key
    assert ticks[-1]["kimg"] == pytest.approx(0.016)
    assert len(checkpoints.list_checkpoints(run)) == 2
    opts = json.load(open(os.path.join(run, "training_options.json")))
    assert opts["batch"] == 4 and opts["resolution"] == 8


@pytest.mark.parametrize("cfg", ["auto", "stylegan2", "paper256", "paper512", "paper1024", "cifar", "demo"])
def test_every_preset_trains_a_step(shapes, tmp_path, cfg):
    raw = dict(TINY, cfg=cfg, mapping_layers=None, snap=0)
    run = _train(data=shapes, outdir=str(tmp_path), kimg=0.004, aug="noaug", **raw)
    opts = json.load(open(os.path.join(run, "training_options.json")))
    assert opts["cfg"] == cfg
    rec = json.loads(open(os.path.join(run, "stats.jsonl")).readlines()[-1])
    assert np.isfinite(rec["loss_G"]) and np.isfinite(rec["loss_D"])


def test_errors_before_any_work(shapes, tmp_path):
    with pytest.raises(OptionsError, match="above the dataset"):
        _train(data=shapes, outdir=str(tmp_path), resolution=32)
    with pytest.raises(OptionsError, match="no labels"):
        _train(data=shapes, outdir=str(tmp_path), cond=True)
    with pytest.raises(TrainingError, match="no such file"):
        _train(data=shapes, outdir=str(tmp_path), resume=str(tmp_path / "missing.pkl"))
    with pytest.raises(TrainingError, match="--resume=latest: needs --outdir"):
        _train(data=shapes, resume="latest")
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(TrainingError, match="cannot load"):
        _train(data=shapes, outdir=str(tmp_path), resume=str(bad))
    assert not os.listdir(tmp_path) or set(os.listdir(tmp_path)) == {"bad.pkl"}


# sg2tf-train with a training loop that fails as given (argv[1]: the exception's expression).
FAILING_LOOP = """
import sys
from sg2tf.training import loop
from sg2tf.data import DatasetError

error = sys.argv.pop(1)

def train(given):
    raise eval(error)

loop.train = train
from sg2tf.cli.train import run
sys.argv[0] = "sg2tf-train"
run()
"""


def test_a_user_error_during_training_is_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    """`sg2tf-train` runs through `cli.common.run`: a `UserError` leaving the loop at any time
    (a damaged record met at step 1000) is `error: <message>` with its own exit code (a
    dataset's 1); anything else is a bug and keeps its traceback."""
    args = ["--data=x", f"--outdir={tmp_path}"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the program's own quiet
    late, bug = "DatasetError('x/data-r05.tfrecords: record 7 is damaged')", "ValueError('a bug')"
    procs = [
        subprocess.Popen([sys.executable, "-c", FAILING_LOOP, error, *args], stderr=subprocess.PIPE, text=True, env=env)
        for error in (late, bug)
    ]
    (late_rc, late_err), (bug_rc, bug_err) = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert (late_rc, late_err) == (1, "error: x/data-r05.tfrecords: record 7 is damaged\n")
    assert bug_rc == 3 and "Traceback" in bug_err and "ValueError: a bug" in bug_err


def test_resume_after_sigkill_is_exact(shapes, tmp_path):
    # Random noise: drawn from the checkpointed generator, so resume is exact with it too.
    # Two ticks of two steps; ADA adjusts p after step 3 (--ada_interval 4).
    common = dict(TINY, aug="ada", p=0.2, kimg=0.016, tick_kimg=0.008, noise_mode="random")
    one_go = _train(data=shapes, outdir=str(tmp_path / "a"), **common)
    # The same run in a subprocess, killed with SIGKILL once its first checkpoint is published.
    outdir = tmp_path / "b"
    launch = (
        "import sys, tensorflow as tf; "
        "tf.config.optimizer.set_experimental_options({'disable_meta_optimizer': True}); "
        "from sg2tf.cli.train import run; sys.argv[0] = 'sg2tf-train'; run()"
    )
    args = [sys.executable, "-c", launch, f"--data={shapes}", f"--outdir={outdir}"]
    args += [f"--{k}={v}" for k, v in common.items()]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            runs = os.listdir(outdir) if outdir.exists() else []
            if runs and checkpoints.list_checkpoints(os.path.join(outdir, runs[0])):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    run = checkpoints.latest_run_dir(str(outdir))
    assert run is not None
    first = checkpoints.list_checkpoints(run)
    assert first and first[0][0] == 8
    resumed = _train(outdir=str(outdir), resume="latest", kimg=0.016)
    assert resumed == run
    ticks = [json.loads(line)["tick"] for line in open(os.path.join(run, "stats.jsonl"))]
    assert ticks == [1, 2]
    for a, b in zip(_ema_weights(one_go), _ema_weights(run)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_resume_applies_changed_options_as_a_step_schedule_would(shapes, tmp_path):
    # Resuming at 8 images with a new learning rate and gamma continues exactly as one run
    # whose schedules step there: the optimizer state, counters and data position are kept
    # and the new values apply from the resumed image count.
    common = dict(TINY, aug="ada", p=0.2, kimg=0.016, d_reg_interval=2)
    one_go = _train(
        data=shapes, outdir=str(tmp_path / "a"), **dict(common, glr="0:0.002,0.008:0.001", gamma="0:1,0.008:0.5")
    )
    run = _train(data=shapes, outdir=str(tmp_path / "b"), **dict(common, kimg=0.008, glr="0.002", gamma="1"))
    assert _train(outdir=str(tmp_path / "b"), resume="latest", kimg=0.016, glr="0.001", gamma="0.5") == run
    for a, b in zip(_ema_weights(one_go), _ema_weights(run)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ticks = [json.loads(line) for line in open(os.path.join(run, "stats.jsonl"))]
    assert [t["tick"] for t in ticks] == [1, 2] and ticks[1]["G_lr"] == pytest.approx(0.001)
    log = open(os.path.join(run, "log.txt")).read()
    for line in (
        "gamma 1 -> 0.5 (from 0.008 kimg)",
        "glr 0.002 -> 0.001 (from 0.008 kimg)",
        "kimg 0.008 -> 0.016 (from 0.008 kimg)",
    ):
        assert line in log, line
    saved = json.load(open(os.path.join(run, "training_options.json")))
    assert (saved["glr"], saved["gamma"], saved["kimg"]) == ("0.001", "0.5", 0.016)
    assert saved["resume_changes"] == [
        {"kimg": 0.008, "changes": {"gamma": ["1.0", "0.5"], "glr": ["0.002", "0.001"], "kimg": [0.008, 0.016]}}
    ]


def test_resume_refuses_architecture_changes_and_applies_augmentation_changes(shapes, tmp_path):
    run = _train(data=shapes, outdir=str(tmp_path), kimg=0.008, aug="ada", p=0.2, **TINY)
    before = open(os.path.join(run, "training_options.json")).read()
    with pytest.raises(
        TrainingError,
        match=r"cannot change --fmap_max \(32 -> 16\), --mapping_layers \(2 -> 4\) "
        r"of a run continued from its checkpoint \(they define the networks\)",
    ):
        _train(outdir=str(tmp_path), resume="latest", kimg=0.016, fmap_max=16, mapping_layers=4)
    with pytest.raises(TrainingError, match=r"--seed \(3 -> 4\).*the data position and the random state"):
        _train(outdir=str(tmp_path), resume=run, kimg=0.016, seed=4)
    assert open(os.path.join(run, "training_options.json")).read() == before
    # The same values as saved are no change; a new augmentation probability replaces the
    # restored one; the top resolution switches to float16 (as l4rz raised num_fp16_res).
    continued = dict(outdir=str(tmp_path), resume="latest", kimg=0.012, tick_kimg=0.004)
    _train(**continued, fmap_max=32, aug="fixed", p=0.5, fp16_res=1, conv_clamp=256)
    ticks = [json.loads(line) for line in open(os.path.join(run, "stats.jsonl"))]
    assert ticks[-1]["kimg"] == pytest.approx(0.012) and ticks[-1]["augment_p"] == pytest.approx(0.5)
    assert np.isfinite(ticks[-1]["loss_G"]) and np.isfinite(ticks[-1]["loss_D"])
    log = open(os.path.join(run, "log.txt")).read()
    assert "aug ada -> fixed" in log and "p 0.2 -> 0.5" in log and "fmap_max" not in log
    assert "fp16_res 0 -> 1" in log and "conv_clamp None -> 256" in log


def test_resume_latest_without_a_checkpoint_starts_a_new_run(shapes, tmp_path, capsys):
    # A first run killed before its first checkpoint: --resume=latest starts again.
    killed = tmp_path / "00000-shapes-tiny-batch4-ada"
    killed.mkdir()
    (killed / "training_options.json").write_text("{}")
    run = _train(data=shapes, outdir=str(tmp_path), resume="latest", kimg=0.004, **dict(TINY, snap=0))
    assert os.path.basename(run).startswith("00001-")
    line = f"--resume=latest: no run with a complete checkpoint under {str(tmp_path)!r}; starting a new run"
    assert capsys.readouterr().out.count(line) == 1
    assert open(os.path.join(run, "log.txt")).readline().strip() == line
    assert checkpoints.latest_run_dir(str(tmp_path)) == run


def test_resume_reads_data_the_way_the_checkpoint_did(shapes, tmp_path):
    # A checkpoint's data position restores only into a dataset read the same way: a
    # stock-reader checkpoint resumes with the stock reader even where the compiled one
    # is available; a compiled-reader checkpoint without the library is a clear error.
    from sg2tf.data import record_reader
    from sg2tf.ops import dispatch

    def reader_of(run):
        return checkpoints.read_metadata(checkpoints.latest_checkpoint(run))["data_reader"]

    with dispatch.impl_scope("ref"):
        run = _train(data=shapes, outdir=str(tmp_path / "a"), kimg=0.008, **TINY)
    assert reader_of(run) == "stream"
    assert _train(outdir=str(tmp_path / "a"), resume="latest", kimg=0.016) == run
    assert reader_of(run) == "stream"

    if record_reader(shapes, 8) != "compiled":
        pytest.skip("the op library is not built: no compiled-reader checkpoint to resume")
    run = _train(data=shapes, outdir=str(tmp_path / "b"), kimg=0.008, **TINY)
    assert reader_of(run) == "compiled"
    with dispatch.impl_scope("ref"), pytest.raises(TrainingError, match="compiled record reader"):
        _train(outdir=str(tmp_path / "b"), resume="latest", kimg=0.016)
