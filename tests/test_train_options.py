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


def test_schedule_steps_ramps_and_constants():
    assert Schedule.parse("0.002")(123) == pytest.approx(0.002)
    # "2e-3, then 2e-4 from 10000 kimg": a step (the README's --glr example).
    s = Schedule.parse("0:0.002,10000:0.0002")
    assert [s(k) for k in (0, 5000, 9999.9, 10000, 20000)] == [0.002, 0.002, 0.002, 0.0002, 0.0002]
    # An explicit linear ramp.
    s = Schedule.parse("0:10..20000:5")
    assert [s(k) for k in (0, 5000, 20000, 30000)] == pytest.approx([10, 8.75, 5, 5])
    # Mixed: constant, then a ramp, then a step; before the first point its value.
    s = Schedule.parse("100:0.002,1000:0.002..2000:0.001,3000:0.0001")
    assert [s(k) for k in (0, 500, 1000, 1500, 2000, 2999, 3000)] == pytest.approx(
        [0.002, 0.002, 0.002, 0.0015, 0.001, 0.001, 0.0001]
    )
    for text in (
        "0:0.002,10000:0.0002",
        "0:10..20000:5",
        "100:0.002,1000:0.002..2000:0.001,3000:0.0001",
        "0:1,12345678.5:2",
    ):
        s, again = Schedule.parse(text), Schedule.parse(Schedule.parse(text).spec())
        assert (again.points, again.ramps) == (s.points, s.ramps), text
    for bad in ("0:abc", "10:1,5:2", "0:1..", "0:1,0:2"):
        with pytest.raises(ValueError, match="--glr="):
            Schedule.parse(bad, "glr")


def test_schedule_tf_value_matches_python():
    for text in ("100:10,2000:5,3000:1", "100:10..2000:5,3000:1", "0:1..10:2..20:0"):
        s = Schedule.parse(text)
        for kimg in (0.0, 100.0, 150.5, 1999.0, 2000.0, 2500.0, 3000.0, 5000.0, 5.0, 10.0, 15.0, 25.0):
            assert float(s.tf_value(np.float32(kimg))) == pytest.approx(s(kimg), rel=1e-5), (text, kimg)


def test_schedules_of_older_runs_keep_their_meaning():
    # training_options.json written before the step syntax: commas were linear ramps.
    old = dict(cfg="tiny", outdir="x", glr="0:0.002,10000:0.0002", dlr="0.002", gamma="0:10,20000:5")
    given = options.TrainingOptions.saved_values(old)
    assert (given["glr"], given["dlr"], given["gamma"]) == ("0:0.002..10000:0.0002", "0.002", "0:10.0..20000:5.0")
    assert Schedule.parse(given["glr"])(5000) == pytest.approx(0.0011)
    new = json.loads(options.resolve(given, FakeInfo()).to_json())
    assert new["schedule_syntax"] == 2 and options.TrainingOptions.saved_values(new)["glr"] == given["glr"]


# Reference sizes and settings of the official presets and of l4rz's models, computed by
# scripts/official_network_sizes.py from stylegan2-ada-pytorch's train.py rules and networks.
OFFICIAL = json.load(open(os.path.join(os.path.dirname(__file__), "data", "official_network_sizes.json")))
# stylegan2-ada-pytorch training/loss.py, StyleGAN2Loss defaults (train.py changes them for cifar only).
LOSS_DEFAULTS = dict(style_mixing_prob=0.9, pl_weight=2)


class Info(FakeInfo):
    def __init__(self, resolution):
        super().__init__()
        self.resolution = resolution
        self.resolutions = tuple(2**i for i in range(int(np.log2(resolution)), 1, -1))


@pytest.mark.parametrize("cfg", sorted(OFFICIAL["presets"]))
def test_official_presets_resolve_the_official_settings(cfg):
    assert OFFICIAL["inputs"]["gpus"] == 1
    for res, ref in OFFICIAL["presets"][cfg].items():
        o = options.resolve(dict(cfg=cfg, outdir="x"), Info(int(res)), replicas=1)
        where = f"{cfg} at {res} px"
        assert (o.batch, o.batch_gpu, o.kimg, o.mapping_layers) == (
            ref["batch"],
            ref["batch_gpu"],
            ref["kimg"],
            ref["mapping_layers"],
        ), where
        assert o.fmap_base == ref["fmap_base_tf"] and o.fmap_max == ref["channel_max"], where
        assert (o.mbstd_group, o.d_arch, o.w_dim, o.z_dim) == (
            ref["D_mbstd_group_size"],
            ref["D_architecture"],
            ref["w_dim"],
            ref["z_dim"],
        ), where
        assert Schedule.parse(o.glr)(0) == Schedule.parse(o.dlr)(0) == pytest.approx(ref["lr"]), where
        assert Schedule.parse(o.gamma)(0) == pytest.approx(ref["gamma"]), where
        assert (o.ema_kimg, o.ema_rampup) == (pytest.approx(ref["ema_kimg"]), ref["ema_rampup"]), where
        for key in ("style_mixing_prob", "pl_weight"):
            expected = LOSS_DEFAULTS[key] if ref[key] is None else ref[key]
            assert getattr(o, key) == expected, (where, key)
        # training_loop.py's G_reg_interval=4, D_reg_interval=16; train.py keeps them for every
        # preset (cifar too, although its pl_weight is 0).
        assert (o.g_reg_interval, o.d_reg_interval) == (4, 16), where


@pytest.mark.parametrize("cfg", sorted(OFFICIAL["presets"]))
def test_official_presets_build_the_official_networks(cfg):
    from sg2tf.training import setup

    for res, ref in OFFICIAL["presets"][cfg].items():
        o = options.resolve(dict(cfg=cfg, outdir="x"), Info(int(res)), replicas=1)
        sizes = setup.network_sizes(o)
        assert sizes == {"G_params": ref["G_params"], "D_params": ref["D_params"], "G_channels": ref["G_channels"]}, (
            f"{cfg} at {res} px"
        )


def test_official_totals_of_the_issue():
    # G + D trainable parameters: stylegan2 at 1024 px 59.38M, paper256 48.77M.
    assert OFFICIAL["presets"]["stylegan2"]["1024"]["total_params"] == 59382573
    assert OFFICIAL["presets"]["paper256"]["256"]["total_params"] == 48768547


def test_dry_run_reports_the_network_sizes():
    # paper256 at 256 px: official G 24767458 and D 24001089 trainable parameters, channels
    # 512 up to 32 px, then 256, 128, 64 (channel_base 16384 / res).
    ref = OFFICIAL["presets"]["paper256"]["256"]
    code = "import sys; from sg2tf.cli.train import run; sys.argv[0] = 'sg2tf-train'; run()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--cfg=paper256", "--resolution=256", "--dry_run"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert (out["G_params"], out["D_params"]) == (ref["G_params"], ref["D_params"]) == (24767458, 24001089)
    assert out["G_channels"] == {"4": 512, "8": 512, "16": 512, "32": 512, "64": 256, "128": 128, "256": 64}
    assert out["fmap_base"] == 8192 and out["batch_gpu"] == 8


def test_tiny_and_demo_keep_their_widths():
    # sg2tf's own presets, tuned before the official fmap_base was fixed: the same channels
    # (fmap_base 2048: 128 up to 32 px under tiny's fmap_max 128).
    for cfg, expected in (("tiny", [128, 128, 128, 128]), ("demo", [32, 32, 16, 16])):
        o = options.resolve(dict(cfg=cfg, outdir="x"), FakeInfo())
        spec = ChannelSpec(**o.network_kwargs()[0]["synthesis_kwargs"]["channels"])
        assert o.fmap_base == 2048 and [spec(r) for r in (4, 8, 16, 32)] == expected, cfg


def test_fmap_base_keeps_its_tf1_meaning():
    # --fmap_base is the TF1 nf() base: channels(res) = min(2 * fmap_base / res, fmap_max).
    o = options.resolve(dict(cfg="paper256", fmap_base=4096, outdir="x"), Info(256))
    spec = ChannelSpec(**o.network_kwargs()[0]["synthesis_kwargs"]["channels"])
    assert [spec(r) for r in (4, 32, 64, 128, 256)] == [512, 256, 128, 64, 32]


def test_batch_gpu_rule():
    # stylegan2-ada-pytorch train.py: batch_gpu = mb // ref_gpus for a preset; batch // gpus
    # with --batch; auto: ref_gpus = gpus.
    o = options.resolve(dict(cfg="stylegan2", outdir="x"), Info(64), replicas=1)
    assert (o.batch, o.batch_gpu, o.accumulation_rounds) == (32, 32 // 8, 8)
    o = options.resolve(dict(cfg="stylegan2", outdir="x"), Info(64), replicas=2)
    assert (o.batch_gpu, o.accumulation_rounds) == (4, 4)
    o = options.resolve(dict(cfg="cifar", outdir="x"), Info(32), replicas=2)
    assert (o.batch, o.batch_gpu, o.accumulation_rounds) == (64, 64 // 2, 1)
    o = options.resolve(dict(cfg="stylegan2", batch=16, outdir="x"), Info(64), replicas=2)
    assert (o.batch_gpu, o.accumulation_rounds) == (8, 1)
    o = options.resolve(dict(cfg="auto", outdir="x"), Info(256), replicas=2)
    assert (o.batch, o.batch_gpu) == (32, 16)
    # More replicas than the preset was made for: the per-replica batch, no accumulation.
    o = options.resolve(dict(cfg="cifar", outdir="x"), Info(32), replicas=4)
    assert (o.batch_gpu, o.accumulation_rounds) == (16, 1)


def test_demo_preset_is_narrow_without_path_length_mixing_and_noise():
    o = options.resolve(dict(cfg="demo", outdir="x"), FakeInfo())
    assert (o.fmap_max, o.w_dim, o.batch, o.kimg) == (32, 128, 32, 200)
    assert o.pl_weight == 0 and o.style_mixing_prob == 0 and o.noise_mode == "none"
    assert o.g_reg_interval == 0  # tuned without the lazy G phase's Adam scaling
    assert options.resolve(dict(cfg="demo", outdir="x", g_reg_interval=4), FakeInfo()).g_reg_interval == 4
    assert Schedule.parse(o.gamma)(0) == pytest.approx(0.2)
    assert Schedule.parse(o.glr)(0) == Schedule.parse(o.dlr)(0) == pytest.approx(0.008)
    # 32 channels, 16 at the two top resolutions, for G and D alike.
    G_kwargs, D_kwargs = o.network_kwargs()
    spec = ChannelSpec(**G_kwargs["synthesis_kwargs"]["channels"])
    assert [spec(r) for r in (4, 8, 16, 32)] == [32, 32, 16, 16]
    assert D_kwargs["channels"] == G_kwargs["synthesis_kwargs"]["channels"]
    # Explicit flags still win over the preset; `tiny` keeps the full recipe.
    o = options.resolve(
        dict(cfg="demo", outdir="x", pl_weight=2.0, style_mixing_prob=0.5, channels="32:8", noise_mode="random"),
        FakeInfo(),
    )
    assert o.pl_weight == 2.0 and o.style_mixing_prob == 0.5 and o.channels == "32:8"
    assert o.noise_mode == "random"
    o = options.resolve(dict(cfg="tiny", outdir="x"), FakeInfo())
    assert o.pl_weight == 2.0 and o.style_mixing_prob == 0.9 and o.fmap_max == 128
    assert o.noise_mode == "random"


@pytest.mark.parametrize(
    "raw, info, replicas, message",
    [
        (dict(cfg="nope"), FakeInfo(), 1, "unknown preset"),
        (dict(resolution=64), FakeInfo(), 1, "above the dataset"),
        (dict(cond=True), FakeInfo(0), 1, "no labels"),
        (dict(batch=6), FakeInfo(), 4, "not divisible by the 4 replicas"),
        (dict(batch=8, batch_gpu=3), FakeInfo(), 1, "does not divide"),
        (dict(aug="fixed"), FakeInfo(), 1, "needs --p"),
        (dict(g_reg_interval=-1), FakeInfo(), 1, "--g_reg_interval and --d_reg_interval must be >= 0"),
        (dict(channels="32=16"), FakeInfo(), 1, "--channels: bad channel table entry '32=16'"),
    ],
)
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
    flags = dict(cfg="tiny", batch=8, batch_gpu=8, outdir="x", d_arch="resnet", glr="0.0025", metrics=[])
    from_strategy = dict(replicas=1, num_workers=1, accumulation_rounds=1)
    from_dataset = dict(c_dim=0, channels_img=3, dataset_count=100)
    old = dict(flags, **from_strategy, **from_dataset, removed_option=1)
    given = options.TrainingOptions.saved_values(json.dumps(old))
    assert "removed_option" not in given and "replicas" not in given
    o = options.resolve(given, FakeInfo())
    assert (o.batch, o.noise_mode, o.d_arch, o.metrics) == (8, "random", "resnet", ())
    with pytest.raises(options.OptionsError, match="not a JSON object"):
        options.TrainingOptions.saved_values("[1, 2]")


@pytest.mark.parametrize(
    "flag, value",
    [
        ("g_arch", "deep"),
        ("d_arch", "x"),
        ("aug", "always"),
        ("augpipe", "bgcx"),
        ("noise_mode", "fresh"),
        ("precision", "float8"),
        ("strategy", "tpu"),
    ],
)
def test_bad_choices_name_the_flag_and_the_choices(flag, value):
    with pytest.raises(options.OptionsError, match=f"--{flag}={value}: choose from"):
        options.resolve({flag: value, "outdir": "x"}, FakeInfo())


def test_flag_module_loads_no_tensorflow():
    code = (
        "import sys; import sg2tf.cli.train_flags, sg2tf.training.options; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow loaded'"
    )
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


# The flags sg2tf-train defines, dumped by a fresh interpreter (absl has one registry a process).
_FLAG_DUMP = """
import json
from absl import flags
import sg2tf.cli.train_flags
out = {f.name: dict(default=f.default, help=f.help, parser=type(f.parser).__name__,
                    choices=getattr(f.parser, "enum_values", None))
       for f in flags.FLAGS.flags_by_module_dict()["sg2tf.cli.train_flags"]}
print(json.dumps(out))
"""
PARSERS = {
    "path": ("ArgumentParser", "PathParser"),
    "string": ("ArgumentParser",),
    "integer": ("IntegerParser",),
    "float": ("FloatParser",),
    "bool": ("BooleanParser",),
    "enum": ("EnumParser",),
}


def test_flags_defaults_and_resume_policy_come_from_the_option_fields():
    """One declaration per option: a flag that differs from its `TrainingOptions` field in
    default, help, type or choices, a field that is neither a flag nor derived, or an option
    without a resume policy fails here."""
    proc = subprocess.run([sys.executable, "-c", _FLAG_DUMP], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    flags = json.loads(proc.stdout)
    assert set(flags) - {"verbose"} == set(options.DEFAULTS)
    for o in options.OPTIONS:
        f = flags[o.name]
        assert f["default"] == o.default and f["parser"] in PARSERS[o.kind], (o.name, f, o)
        if o.kind == "enum":  # absl puts the choices in front of the help
            assert list(f["choices"]) == list(o.choices), o.name
            assert f["help"] == f"<{'|'.join(o.choices)}>: {o.help}", o.name
        else:
            assert f["help"] == o.help, o.name
    for field in dataclasses.fields(options.TrainingOptions):
        assert ("kind" in field.metadata) != ("derived" in field.metadata), field.name
    reasons = {options.NETWORKS, options.TRAINED, options.DATA_STATE}
    assert {o.resume for o in options.OPTIONS} <= {options.CHANGE, options.LOCAL} | reasons
    assert options.LOCAL_OPTIONS >= {"resume", "outdir", "dry_run", "cpu_devices"}


def test_options_that_shape_the_networks_are_fixed_on_resume():
    """Every option `network_kwargs` reads (what builds G and D) is fixed when a run is
    continued from its checkpoint (found by watching what it reads), but the two that change
    only how the layers compute, not their weights: a resumed run may change its precision, as
    the originals rebuild their networks from the new arguments and copy the weights in."""
    read = set()

    class Watch:
        def __getattr__(self, name):
            read.add(name)
            return getattr(options.resolve(dict(cfg="tiny", outdir="x"), FakeInfo()), name)

    options.TrainingOptions.network_kwargs(Watch())
    derived = {f.name for f in dataclasses.fields(options.TrainingOptions) if "derived" in f.metadata}
    shaping = read - derived - {"fp16_res", "conv_clamp"}
    assert len(shaping) > 10 and all(options.FIXED_ON_RESUME.get(k) == options.NETWORKS for k in shaping), shaping
    assert options.FIXED_ON_RESUME.keys().isdisjoint({"fp16_res", "conv_clamp", "precision"})


def test_resume_refuses_a_fixed_option_and_takes_a_changeable_one():
    from sg2tf.training import loop
    from sg2tf.training.setup import TrainingError

    assert not hasattr(loop, "FIXED_ON_RESUME") and not hasattr(loop, "LOCAL_OPTIONS")  # one home: options
    base = dict(cfg="tiny", outdir="x")
    before = options.resolve(base, FakeInfo())
    after = options.resolve(dict(base, gamma="5", outdir="y"), FakeInfo())
    assert loop.resume_changes(before, after, "r") == {"gamma": (before.gamma, after.gamma)}  # outdir: local
    for key, value in (("w_dim", 32), ("freezed", 1), ("seed", 7)):
        with pytest.raises(TrainingError, match=f"--{key} .*{options.FIXED_ON_RESUME[key]}"):
            loop.resume_changes(before, options.resolve(dict(base, **{key: value}), FakeInfo()), "r")


def test_a_data_cache_needs_images_read_directly():
    # Refused with the options, before a run directory exists; a folder's info (encoding "images") takes it.
    with pytest.raises(options.OptionsError, match="--data_cache=memory: a cache is for images read directly"):
        options.resolve(dict(cfg="auto", outdir="x", data_cache="memory"), FakeInfo())
    folder = FakeInfo()
    folder.encoding = "images"
    assert options.resolve(dict(cfg="auto", outdir="x", data_cache="memory"), folder).data_cache == "memory"
