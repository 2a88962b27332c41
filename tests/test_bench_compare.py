"""`sg2tf-bench compare`: variant parsing, the PyTorch-side configs, the summary and the
sg2tf worker's protocol (the PyTorch worker itself needs torch and an NVlabs checkout)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sg2tf.benchmarks import compare
from sg2tf.benchmarks.generator import build_generator
from sg2tf.training import options as options_lib


def test_parse_variant():
    assert compare.parse_variant("saved_model") == ("saved_model", {})
    assert compare.parse_variant("train+ops=ref+xla=1+onednn=0") == ("train", {"ops": "ref", "xla": 1, "onednn": 0})
    with pytest.raises(ValueError, match="KEY=VALUE"):
        compare.parse_variant("train+xla")


def test_generator_configs_have_the_official_channels():
    # config-f: channel_base 32768 in stylegan2-ada-pytorch = fmap_base 16384 (TF1 nf()).
    f256 = compare.torch_generator_config("f256")
    assert (f256["channel_base"], f256["channel_max"], f256["resolution"]) == (32768, 512, 256)
    G = build_generator("small")
    spec = G.synthesis.channels
    conf = compare.torch_generator_config("small")
    for res in (4, 8, 16, 32):  # the official formula, min(channel_base // res, channel_max)
        assert spec(res) == min(conf["channel_base"] // res, conf["channel_max"])


def test_train_config_follows_the_options():
    opts = options_lib.resolve(dict(cfg="tiny", resolution=32, aug="noaug", outdir="/x"), None, 1).to_dict()
    conf = compare.torch_train_config(opts)
    assert conf["channel_base"] == 2 * opts["fmap_base"] and conf["batch"] == opts["batch"]
    assert conf["gamma"] == float(opts["gamma"]) and conf["lr"] == float(opts["glr"])
    with pytest.raises(ValueError, match="constant"):
        compare.torch_train_config(dict(opts, glr="0:0.002,10:0.001"))


def test_summary_uses_the_fastest_pytorch_variant():
    times = {"a": [1.0, 2.0, 3.0], "pytorch[threads=1]": [4.0, 4.0, 4.0], "pytorch[threads=2]": [6.0, 2.0, 6.0]}
    rss = {k: 100.0 for k in times}
    out = compare._summarise(times, rss, lambda s: {"per_s": 1 / s})
    assert out["pytorch_reference"] == "pytorch[threads=1]"
    assert out["a"]["speedup_vs_pytorch"] == pytest.approx(2.0)
    assert out["a"]["speedup_vs_pytorch_paired"] == pytest.approx(2.0)
    assert out["a"]["speedup_vs_pytorch_min"] == pytest.approx(4.0)
    assert "speedup_vs_pytorch" not in out["pytorch[threads=2]"]


def test_tf_worker_protocol():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, "-m", "sg2tf.benchmarks.tf_worker", "--inter=1"],
        input="\n".join(
            json.dumps(c)
            for c in (
                {
                    "cmd": "setup",
                    "task": "generator",
                    "config": "small",
                    "batch": 2,
                    "mode": "function",
                    "ops": "ref",
                    "min_unit_s": 0.0,
                },
                {"cmd": "time", "n": 2},
                {"cmd": "bogus"},
                {"cmd": "quit"},
            )
        )
        + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    replies = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, proc.stderr[-2000:]
    setup, timed, bad, quit_ = replies
    assert setup["ok"] and setup["inter"] == 1 and setup["images_per_unit"] >= 2
    assert setup["params"] == int(sum(np.prod(v.shape) for v in build_generator("small").trainable_variables))
    assert timed["ok"] and len(timed["seconds"]) == 2 and timed["peak_rss_mib"] > 0
    assert not bad["ok"] and "unknown command" in bad["error"]
    assert quit_["ok"]
