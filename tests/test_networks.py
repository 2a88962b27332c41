"""Layers and networks: shapes, config round trips, equivalences, snapshots."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import sg2tf
from sg2tf import layers
from sg2tf.io import snapshot
from sg2tf.networks import ChannelSpec, Discriminator, Generator, parse_channel_table


def small_generator(**synthesis):
    synthesis.setdefault("channels", dict(fmap_base=128, fmap_max=32))
    c_dim = synthesis.pop("c_dim", 0)
    return Generator(16, c_dim, 16, 16, 3, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=synthesis)


def test_modulated_conv_fused_equals_non_fused(op_impl):
    rng = np.random.RandomState(0)
    for up, k, demod in [(1, 3, True), (2, 3, True), (1, 1, False), (2, 1, True)]:
        layer = layers.ModulatedConv2D(6, k, w_dim=8, up=up, demodulate=demod)
        x = tf.constant(rng.randn(3, 5, 5, 4), tf.float32)
        w = tf.constant(rng.randn(3, 8), tf.float32)
        a = layer(x, w, fused_modconv=False).numpy()
        b = layer(x, w, fused_modconv=True).numpy()
        b1 = layer(x[:1], w[:1], fused_modconv=True).numpy()  # Batch-1 shortcut.
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(a[:1], b1, rtol=1e-5, atol=1e-5)


def test_minibatch_stddev_matches_numpy():
    x = np.random.RandomState(1).randn(6, 2, 3, 4).astype(np.float32)
    y = layers.MinibatchStddev(group_size=3, num_channels=2)(x).numpy()
    groups = x.reshape(3, 2, 2, 3, 2, 2)  # [G, M, H, W, F, c]
    std = np.sqrt(groups.var(axis=0) + 1e-8).mean(axis=(1, 2, 4))  # [M, F]
    want = np.tile(std[:, None, None, :], (3, 2, 3, 1))
    np.testing.assert_allclose(y[..., :4], x)
    np.testing.assert_allclose(y[..., 4:], want, rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of the group size"):
        layers.MinibatchStddev(group_size=4)(x)


@pytest.mark.parametrize("g_arch,d_arch", [("skip", "resnet"), ("orig", "orig"), ("resnet", "skip")])
def test_architectures_build_and_run(g_arch, d_arch, op_impl):
    G = small_generator(architecture=g_arch)
    D = Discriminator(0, 16, 3, channels=dict(fmap_base=128, fmap_max=32), architecture=d_arch)
    z = tf.random.normal([2, 16], seed=2)
    images = G.generate(z, noise_mode="random")
    assert images.shape == (2, 16, 16, 3) and images.dtype == tf.float32
    assert D(images).shape == (2, 1)
    assert G.num_ws == 6


def test_conditional_noconst_fp16_and_channel_table():
    G = small_generator(
        c_dim=3, noconst=True, num_fp16_res=2, conv_clamp=256, channels=dict(fmap_base=128, fmap_max=32, table={16: 8})
    )
    assert G.synthesis.blocks[-1].out_channels == 8
    assert [b.use_fp16 for b in G.synthesis.blocks] == [False, True, True]
    c = tf.one_hot([0, 2], 3)
    images = G.generate(tf.random.normal([2, 16]), c)
    assert np.isfinite(images.numpy()).all()
    with pytest.raises(ValueError, match="conditional"):
        G.generate(tf.random.normal([2, 16]))
    D = Discriminator(
        3,
        16,
        3,
        channels=dict(fmap_base=128, fmap_max=32),
        num_fp16_res=2,
        conv_clamp=256,
        mapping_layers=1,
        mbstd_group_size=None,
    )
    assert D(images, c).dtype == tf.float32


def test_fp16_blocks_stay_close_to_float32():
    G32 = small_generator()
    G16 = small_generator(num_fp16_res=2, conv_clamp=256)
    for a, b in zip(G16.weights, G32.weights):
        a.assign(b)
    z = tf.random.normal([2, 16], seed=3)
    diff = np.abs(G16.generate(z).numpy() - G32.generate(z).numpy()).max()
    assert diff < 0.05, diff


def test_parse_channel_table():
    assert parse_channel_table("64:768,128:768, 256:384") == {64: 768, 128: 768, 256: 384}
    spec = ChannelSpec(fmap_base=16384, fmap_max=512, table="1024:96")
    assert spec(4) == 512 and spec(256) == 128 and spec(1024) == 96
    with pytest.raises(ValueError, match="power of two"):
        parse_channel_table("100:3")


def test_generator_config_round_trip_and_snapshot(tmp_path):
    G = small_generator(architecture="resnet")
    D = Discriminator(0, 16, 3, channels=dict(fmap_base=128, fmap_max=32))
    path = snapshot.save_snapshot(tmp_path / "snap", {"G": G, "D": D, "G_ema": G}, metadata={"kimg": 1.5})
    nets = sg2tf.load_network(path)
    z = tf.random.normal([2, 16], seed=4)
    np.testing.assert_allclose(nets.G_ema.generate(z).numpy(), G.generate(z).numpy(), atol=1e-6)
    images = G.generate(z)
    np.testing.assert_allclose(nets.D(images).numpy(), D(images).numpy(), atol=1e-6)
    assert nets.metadata["kimg"] == 1.5
    # Keras' own serialisation also round-trips the models.
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(G))
    assert clone.num_ws == G.num_ws
    # Overwriting leaves no temporary folders behind.
    snapshot.save_snapshot(tmp_path / "snap", {"G_ema": G})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap"]


def test_snapshot_errors(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(ValueError, match="not an sg2tf snapshot"):
        sg2tf.load_network(tmp_path / "dir")
    (tmp_path / "dir" / snapshot.INDEX).write_text("{broken")
    with pytest.raises(ValueError, match="not a valid sg2tf snapshot index"):
        sg2tf.load_network(tmp_path / "dir")
