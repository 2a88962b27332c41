"""Transfer learning: which layers --freezed, --freeze_g and --freeze_mapping freeze, and the
options of a run that starts from another network's weights."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import tiny_options

from sg2tf.training import options
from sg2tf.training.freeze import d_layers, freeze_filter_d, freeze_filter_g

# The official Freeze-D layers, made by scripts/official_freeze_layers.py from
# stylegan2-ada-pytorch's Discriminator(block_kwargs.freeze_layers=N).
OFFICIAL = json.load(open(os.path.join(os.path.dirname(__file__), "data", "official_freeze_layers.json")))

pytestmark = pytest.mark.usefixtures("fast_compiles")


def small(**overrides):
    given = tiny_options(resolution=OFFICIAL["resolution"], fmap_max=16, outdir="x", aug="noaug")
    return options.resolve(dict(given, **overrides), None, 1)


def official_name(path):
    """`discriminator/b32/fromrgb/weight` -> `b32.fromrgb.weight`; `b4_conv` -> `b4.conv`."""
    return path.split("/", 1)[1].replace("b4_", "b4/").replace("/", ".")


@pytest.mark.parametrize("arch", sorted(OFFICIAL["architectures"]))
def test_freezed_counts_d_layers_as_the_official_code(arch):
    from sg2tf.training.setup import build_networks

    _, D, _ = build_networks(small(d_arch=arch))
    ref = OFFICIAL["architectures"][arch]
    assert sorted(official_name(v.path) for v in D.trainable_variables) == sorted(ref["parameters"])
    for n, frozen in ref["frozen"].items():
        got = sorted(official_name(p) for p in freeze_filter_d(D, int(n)))
        assert got == sorted(frozen), f"{arch}, --freezed={n}"
    # The resnet skip is a layer of its own: --freezed=4 is the whole top block, nothing below.
    if arch == "resnet":
        assert d_layers(D)[:5] == ["b32/fromrgb", "b32/conv0", "b32/conv1", "b32/skip", "b16/conv0"]


def test_freeze_g_and_the_mapping_network():
    from sg2tf.training.setup import build_trainer

    trainer = build_trainer(small(freeze_g=16, freeze_mapping=True, pl_weight=0))
    G = trainer.G
    frozen = freeze_filter_g(G, 16, mapping=True)
    mapping = {v.path for v in G.trainable_variables if "/mapping/" in v.path}
    low = {v.path for v in G.trainable_variables if "/synthesis/b4/" in v.path or "/synthesis/b8/" in v.path}
    assert mapping and low and frozen == mapping | low
    assert freeze_filter_g(G, 16) == low and freeze_filter_g(G, 0, mapping=True) == mapping
    assert set(trainer.frozen) == frozen and not frozen & {v.path for v in trainer.G_vars}
    before = {v.path: v.numpy() for v in G.trainable_variables}
    rng = np.random.RandomState(0)
    res = OFFICIAL["resolution"]
    import tensorflow as tf

    trainer.train_step(tf.constant(rng.uniform(-1, 1, [4, res, res, 3]).astype(np.float32)), tf.zeros([4, 0]))
    for v in G.trainable_variables:
        changed = not np.array_equal(before[v.path], v.numpy())
        assert changed == (v.path not in frozen), v.path


def test_transfer_defaults_are_the_official_ones():
    # stylegan2-ada-pytorch train.py, resuming from a pickle: ada_kimg = 100 ("make ADA react
    # faster at the beginning"), ema_rampup = None ("disable EMA rampup"), unless given.
    o = options.resolve(options.transfer_defaults(dict(cfg="auto", resolution=32, outdir="x")))
    assert (o.ada_kimg, o.ema_rampup) == (100, None)
    o = options.resolve(dict(cfg="auto", resolution=32, outdir="x"))
    assert (o.ada_kimg, o.ema_rampup) == (500, 0.05)
    o = options.resolve(
        options.transfer_defaults(dict(cfg="auto", resolution=32, outdir="x", ada_kimg=300, ema_rampup=0.1))
    )
    assert (o.ada_kimg, o.ema_rampup) == (300, 0.1)
