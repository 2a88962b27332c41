"""flags/config-{f,m,l,xl,xxl}.cfg build l4rz's models with his reported settings.

Every expected number comes from his write-ups, not from sg2tf:
"Scaling up StyleGAN2" (https://github.com/l4rz/scaling-up-stylegan2): the table of feature
maps at 64/128/256/512/1024 px ("feature map counts in the lowest-resolution layers (32px and
lower) are equal to 64px feature map count") and the total parameters (written "59K" ...
"150K", millions), and each model's training settings; "Practical aspects of StyleGAN2
training" (https://github.com/l4rz/practical-aspects-of-stylegan2-training) for config-f.
The exact G and D counts are those of the official networks with his channels
(tests/data/official_network_sizes.json, from scripts/official_network_sizes.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sg2tf.training import options
from sg2tf.training.schedules import Schedule

ROOT = Path(__file__).resolve().parent.parent
OFFICIAL = json.loads((ROOT / "tests" / "data" / "official_network_sizes.json").read_text())["l4rz"]

# name: (file, his name in the table, 64/128/256/512/1024 px feature maps, total G + D in M).
MODELS = {
    "f": ("config-f.cfg", "config-f", (512, 256, 128, 64, 32), 59),
    "m": ("config-m.cfg", "M", (512, 384, 192, 96, 48), 64),
    "l": ("config-l.cfg", "L", (512, 512, 256, 128, 64), 70),
    "xl": ("config-xl.cfg", "XL", (640, 640, 320, 160, 80), 106),
    "xxl": ("config-xxl.cfg", "XXL", (768, 768, 384, 192, 96), 150),
}

# His reported settings: option -> value, or {kimg: value} for schedules.
# XL / XXL: "1.5e-3 initially, decreased in several steps to 1.5e-4 and kept at this value
# after 6000 kimg", gamma 6, mixing off, num_fp16_res 4, paper1024 augmentation settings.
XL_XXL = dict(
    cfg="paper1024",
    glr={0: 1.5e-3, 6000: 1.5e-4, 20000: 1.5e-4},
    dlr={0: 1.5e-3, 6000: 1.5e-4},
    gamma={0: 6},
    style_mixing_prob=0.0,
    fp16_res=4,
    mirror=True,
)
SETTINGS = {
    # config-f: "Initial LR was 10^-3 ... Minibatch size was 32, mirror augmentation was enabled".
    "f": dict(cfg="stylegan2", glr={0: 1e-3}, dlr={0: 1e-3}, batch=32, mirror=True),
    # M: "initial learning rate was set to 1e-3, decreasing to 1e-4 after 10000 kimg and further
    # to 1e-5 after 20000 kimg"; gamma 10, "after 20000 kimg gamma was decayed to 5 and ... D_lrate
    # to twice the value of G_lrate"; "trained to 30000 kimg".
    "m": dict(
        cfg="stylegan2",
        glr={0: 1e-3, 9999: 1e-3, 10000: 1e-4, 19999: 1e-4, 20000: 1e-5},
        dlr={0: 1e-3, 10000: 1e-4, 20000: 2e-5},
        gamma={0: 10, 19999: 10, 20000: 5},
        mirror=True,
        kimg=30000,
    ),
    # L: "2e-3, later decreased to 2e-4 after 10000 kimg and further to 1e-4 after 20000 kimg",
    # gamma 5, mixing off; FID "after 25000 kimg".
    "l": dict(
        cfg="paper1024",
        glr={0: 2e-3, 9999: 2e-3, 10000: 2e-4, 19999: 2e-4, 20000: 1e-4},
        dlr={0: 2e-3, 10000: 2e-4, 20000: 1e-4},
        gamma={0: 5},
        style_mixing_prob=0.0,
        mirror=True,
        kimg=25000,
    ),
    "xl": dict(XL_XXL, kimg=15000),
    "xxl": XL_XXL,
}


def his_channels(table):
    c64, c128, c256, c512, c1024 = table
    return {4: c64, 8: c64, 16: c64, 32: c64, 64: c64, 128: c128, 256: c256, 512: c512, 1024: c1024}


# sg2tf-train's flags are absl globals that clash with other programs' flags in one test
# process (--seed, --resolution, ...): parse in a child process, which imports no TensorFlow.
_PARSE = """
import json, sys
from absl import flags
from sg2tf.cli import train_flags
from sg2tf.training.options import DEFAULTS
F = flags.FLAGS
F(["sg2tf-train", "--flagfile=" + sys.argv[1]])
print(json.dumps({n: F[n].value for n in DEFAULTS if n in F and F[n].present}))
"""


def parse_flagfile(path):
    """The options a flag file sets, parsed by sg2tf-train's own flag definitions."""
    r = subprocess.run([sys.executable, "-c", _PARSE, str(path)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    key = request.param
    filename, his_name, table, total_m = MODELS[key]
    given = parse_flagfile(ROOT / "flags" / filename)
    opts = options.resolve({**given, "resolution": 1024, "dry_run": True})
    return key, given, opts, his_name, table, total_m


def test_files_are_self_contained(model):
    key, given, opts, *_ = model
    assert given["cfg"] == SETTINGS[key]["cfg"], "the base preset is part of the file"
    assert opts.mapping_layers == 8 and opts.w_dim == 512 and opts.mbstd_group == 4


def test_channels_are_his_table(model):
    from sg2tf.networks.channels import ChannelSpec

    key, given, opts, his_name, table, _ = model
    G_kwargs, D_kwargs = opts.network_kwargs()
    expected = his_channels(table)
    for kwargs in (G_kwargs["synthesis_kwargs"]["channels"], D_kwargs["channels"]):
        spec = ChannelSpec.from_config(kwargs)
        assert {res: spec(res) for res in expected} == expected
        assert spec(2) == table[0], "D's last dense layer (TF nf(0), PyTorch channels[4])"
    assert {int(k): v for k, v in OFFICIAL[his_name]["G_channels"].items()} == expected


def test_parameter_counts(model):
    from sg2tf.networks.discriminator import Discriminator
    from sg2tf.networks.generator import Generator

    key, given, opts, his_name, table, total_m = model
    G_kwargs, D_kwargs = opts.network_kwargs()
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    count = lambda m: int(sum(np.prod(v.shape) for v in m.trainable_weights))  # noqa: E731
    g, d = count(G), count(D)
    assert (g, d) == (OFFICIAL[his_name]["G_params"], OFFICIAL[his_name]["D_params"])
    assert round((g + d) / 1e6) == total_m


def test_training_settings(model):
    key, given, opts, *_ = model
    for name, want in SETTINGS[key].items():
        got = getattr(opts, name)
        if isinstance(want, dict):
            schedule = Schedule.parse(got, name)
            for kimg, value in want.items():
                assert schedule(kimg) == pytest.approx(value, rel=1e-9), f"{name} at {kimg} kimg"
        elif name != "cfg":
            assert got == want, name
    if key in ("xl", "xxl"):  # "decreased in several steps": never rising on the way down
        glr = Schedule.parse(opts.glr)
        values = [glr(k) for k in range(0, 6001, 250)]
        assert all(a >= b for a, b in zip(values, values[1:]))
        assert len(set(values)) > 2, "several steps, not one drop"
