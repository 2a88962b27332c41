"""Schedules, presets and flag validation of sg2tf-train (no training)."""

import dataclasses
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from sg2tf.networks.channels import ChannelSpec
from sg2tf.training import options
from sg2tf.training.schedules import Schedule


class FakeInfo:
    path = "/data/x"
    resolution = 32
    resolutions = (32, 16, 8, 4)
    channels = 3
    count = 100

    def __init__(self, label_size=0):
        self.label_size = label_size


def test_schedule_constant_and_piecewise_linear():
    assert Schedule.parse("0.002")(123) == pytest.approx(0.002)
    s = Schedule.parse("0:0.002,10000:0.0002")
    assert s(0) == pytest.approx(0.002)
    assert s(5000) == pytest.approx(0.0011)
    assert s(20000) == pytest.approx(0.0002)
    assert Schedule.parse(s.spec()).points == s.points
    with pytest.raises(ValueError, match="--glr"):
        Schedule.parse("0:abc", "glr")


def test_schedule_tf_value_matches_python():
    s = Schedule.parse("100:10,2000:5,3000:1")
    for kimg in (0.0, 100.0, 150.5, 1999.0, 2500.0, 5000.0):
        assert float(s.tf_value(np.float32(kimg))) == pytest.approx(s(kimg), rel=1e-5)


def test_presets_match_the_official_values():
    o = options.resolve(dict(cfg="paper256", outdir="x"), FakeInfo())
    assert (o.batch, o.mbstd_group, o.fmap_base, o.mapping_layers) == (64, 8, 16384, 8)
    assert Schedule.parse(o.glr)(0) == 0.0025 and Schedule.parse(o.gamma)(0) == 1
    assert o.ema_kimg == 20 and o.ema_rampup is None
    o = options.resolve(dict(cfg="cifar", outdir="x"), FakeInfo())
    assert o.pl_weight == 0 and o.style_mixing_prob == 0 and o.d_arch == "orig"
    o = options.resolve(dict(cfg="auto", outdir="x"), FakeInfo(), replicas=1)
    # auto at 32x32: batch min(4096 // 32, 32) = 32, gamma 0.0002 * 32^2 / 32
    assert o.batch == 32 and Schedule.parse(o.gamma)(0) == pytest.approx(0.0064)
    assert o.ema_kimg == 10 and o.fmap_base == 16384
    o = options.resolve(dict(cfg="stylegan2", outdir="x", glr="0:0.002,100:0.001"), FakeInfo())
    assert o.glr == "0:0.002,100:0.001" and Schedule.parse(o.dlr)(0) == 0.002


def test_demo_preset_is_narrow_without_path_length_mixing_and_noise():
    o = options.resolve(dict(cfg="demo", outdir="x"), FakeInfo())
    assert (o.fmap_max, o.w_dim, o.batch, o.kimg) == (32, 128, 32, 200)
    assert o.pl_weight == 0 and o.style_mixing_prob == 0 and o.noise_mode == "none"
    assert Schedule.parse(o.gamma)(0) == pytest.approx(0.2)
    assert Schedule.parse(o.glr)(0) == Schedule.parse(o.dlr)(0) == pytest.approx(0.008)
    # 32 channels, 16 at the two top resolutions, for G and D alike.
    G_kwargs, D_kwargs = o.network_kwargs()
    spec = ChannelSpec(**G_kwargs["synthesis_kwargs"]["channels"])
    assert [spec(r) for r in (4, 8, 16, 32)] == [32, 32, 16, 16]
    assert D_kwargs["channels"] == G_kwargs["synthesis_kwargs"]["channels"]
    # Explicit flags still win over the preset; `tiny` keeps the full recipe.
    o = options.resolve(dict(cfg="demo", outdir="x", pl_weight=2.0, style_mixing_prob=0.5,
                             channels="32:8", noise_mode="random"), FakeInfo())
    assert o.pl_weight == 2.0 and o.style_mixing_prob == 0.5 and o.channels == "32:8"
    assert o.noise_mode == "random"
    o = options.resolve(dict(cfg="tiny", outdir="x"), FakeInfo())
    assert o.pl_weight == 2.0 and o.style_mixing_prob == 0.9 and o.fmap_max == 128
    assert o.noise_mode == "random"


@pytest.mark.parametrize("raw, info, replicas, message", [
    (dict(cfg="nope"), FakeInfo(), 1, "unknown preset"),
    (dict(resolution=64), FakeInfo(), 1, "above the dataset"),
    (dict(cond=True), FakeInfo(0), 1, "no labels"),
    (dict(batch=6), FakeInfo(), 4, "not divisible by the 4 replicas"),
    (dict(batch=8, batch_gpu=3), FakeInfo(), 1, "does not divide"),
    (dict(aug="fixed"), FakeInfo(), 1, "needs --p"),
    (dict(channels="32=16"), FakeInfo(), 1, "--channels: bad channel table entry '32=16'"),
])
def test_bad_flags_are_rejected(raw, info, replicas, message):
    with pytest.raises(options.OptionsError, match=message):
        options.resolve(dict(raw, outdir="x"), info, replicas)


def test_options_round_trip_through_training_options_json():
    o = options.resolve(dict(cfg="tiny", outdir="x", glr="0:0.002,100:0.001", metrics="none"), FakeInfo())
    text = o.to_json()
    assert json.loads(text)["glr"] == "0:0.002,100:0.001" and json.loads(text)["batch"] == 16
    assert options.resolve(options.TrainingOptions.saved_values(text), FakeInfo()) == o
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.batch = 8


def test_older_flat_training_options_files_are_read():
    # A file written before the typed options: a flat object with derived keys and without
    # the options added since (noise_mode); unknown keys are left out.
    old = dict(cfg="tiny", batch=8, batch_gpu=8, replicas=1, accumulation_rounds=1, c_dim=0,
               channels_img=3, dataset_count=100, num_workers=1, outdir="x", d_arch="resnet",
               glr="0.0025", metrics=[], removed_option=1)
    given = options.TrainingOptions.saved_values(json.dumps(old))
    assert "removed_option" not in given and "replicas" not in given
    o = options.resolve(given, FakeInfo())
    assert (o.batch, o.noise_mode, o.d_arch, o.metrics) == (8, "random", "resnet", ())
    with pytest.raises(options.OptionsError, match="not a JSON object"):
        options.TrainingOptions.saved_values("[1, 2]")


@pytest.mark.parametrize("flag, value", [("g_arch", "deep"), ("d_arch", "x"), ("aug", "always"),
                                         ("augpipe", "bgcx"), ("noise_mode", "fresh"),
                                         ("precision", "float8"), ("strategy", "tpu")])
def test_bad_choices_name_the_flag_and_the_choices(flag, value):
    with pytest.raises(options.OptionsError, match=f"--{flag}={value}: choose from"):
        options.resolve({flag: value, "outdir": "x"}, FakeInfo())


def test_flag_module_loads_no_tensorflow():
    code = ("import sys; import sg2tf.cli.train_flags, sg2tf.training.options; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow loaded'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_conditional_uses_dataset_labels():
    o = options.resolve(dict(cond=True, outdir="x", cfg="tiny"), FakeInfo(4))
    assert o.c_dim == 4
    g, d = o.network_kwargs()
    assert g["c_dim"] == 4 and d["c_dim"] == 4


def test_flag_files_parse():
    from absl import flags as absl_flags

    root = os.path.join(os.path.dirname(__file__), "..", "flags")
    files = sorted(f for f in os.listdir(root) if f.endswith(".cfg"))
    assert files, "no flag files"
    for name in files:
        with open(os.path.join(root, name)) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    assert line.startswith("--") and "=" in line, f"{name}: {line!r}"
                    flag = line[2:].split("=", 1)[0]
                    assert flag in options.DEFAULTS, f"{name}: unknown flag {flag}"
    del absl_flags
