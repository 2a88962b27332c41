"""`sg2tf-bench train` end to end on a tiny network: it runs, reports JSON and honours
the option overrides (here the channel table and the noise inputs)."""

import json
import subprocess
import sys


def _bench_train(*flags):
    """Runs `sg2tf-bench train` on the demo preset at 8x8, batch 4, with more flags."""
    cmd = [sys.executable, "-m", "sg2tf.cli.bench", "train", "--cfg=demo", "--resolution=8", "--batch=4", *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def test_train_benchmark_reports_json_with_overrides():
    proc = _bench_train("--aug=noaug", "--steps=2", "--ops=ref", "--channels=4:16,8:8", "--noise_mode=random")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["benchmark"] == "train" and result["cfg"] == "demo"
    assert (result["resolution"], result["batch"], result["channels"]) == (8, 4, "4:16,8:8")
    assert result["noise_mode"] == "random"  # the demo preset's own is "none"
    assert result["steps"] == 2 and result["sec_per_kimg"] > 0 and result["images_per_sec"] > 0


def test_train_benchmark_rejects_a_bad_channel_table():
    proc = _bench_train("--channels=8=16")
    assert proc.returncode != 0 and "--channels: bad channel table entry '8=16'" in proc.stderr
