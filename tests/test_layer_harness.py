"""One harness over every public layer and network class (`sg2tf.layers.__all__`,
`sg2tf.networks.__all__`): build and call with tiny shapes (output shapes checked),
`get_config`/`from_config` round trip through JSON (same config, same outputs), Keras
serialization (`serialize_keras_object`/`deserialize_keras_object`), save/load of a `.keras`
file, for both op implementations (`op_impl`).

A class added to either `__all__` is picked up automatically and fails here until it has an
entry in `EXAMPLES` (or is listed in `NOT_CALLABLE`): the table holds only each class's
example constructor arguments, inputs and expected output shapes, so new constructor
arguments (dtype, precision, ...) with defaults need no change here.
"""

import inspect
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from sg2tf import layers, networks

# Public base classes without a call of their own.
NOT_CALLABLE = {"Layer"}

N = 2  # batch
SMALL_CHANNELS = dict(fmap_base=32, fmap_max=8)
# Constructor arguments the cases of a class share.
SYNTHESIS_BLOCK = dict(w_dim=8, img_channels=3)
SMALL_SYNTHESIS = dict(channels=SMALL_CHANNELS)
ORIG_SYNTHESIS = dict(channels=SMALL_CHANNELS, architecture="orig")
GENERATOR = dict(z_dim=8, w_dim=8, img_resolution=8)
DISCRIMINATOR_BLOCK = dict(resolution=8, img_channels=3)
DISCRIMINATOR = dict(img_resolution=8, img_channels=3, channels=SMALL_CHANNELS, mbstd_group_size=2)


def _normal(rng, *shape):
    return tf.constant(rng.standard_normal(shape).astype(np.float32))


def _ws(layer, rng, count):
    return _normal(rng, N, count, layer.w_dim)


# name -> list of (constructor kwargs, inputs(layer, rng) -> positional args, call kwargs, output shapes).
# Output shapes are a tuple of shapes for layers that return a tuple (None: an output that is None).
EXAMPLES = {
    "EqualizedDense": [
        (dict(units=5, activation="lrelu", lr_multiplier=0.01), lambda m, r: (_normal(r, N, 7),), {}, (N, 5)),
    ],
    "EqualizedConv2D": [
        (
            dict(filters=4, kernel_size=3, up=2, conv_clamp=256),
            lambda m, r: (_normal(r, N, 4, 4, 3),),
            {},
            (N, 8, 8, 4),
        ),
        (
            dict(filters=4, kernel_size=1, down=2, use_bias=False),
            lambda m, r: (_normal(r, N, 8, 8, 3),),
            {},
            (N, 4, 4, 4),
        ),
    ],
    "MinibatchStddev": [
        (dict(group_size=2, num_channels=2), lambda m, r: (_normal(r, 4, 4, 4, 6),), {}, (4, 4, 4, 8)),
    ],
    "ModulatedConv2D": [
        (
            dict(filters=4, kernel_size=3, w_dim=8),
            lambda m, r: (_normal(r, N, 4, 4, 3), _normal(r, N, 8)),
            {},
            (N, 4, 4, 4),
        ),
        (
            dict(filters=4, kernel_size=3, w_dim=8, up=2, demodulate=False, fused_modconv=True),
            lambda m, r: (_normal(r, N, 4, 4, 3), _normal(r, N, 8)),
            {},
            (N, 8, 8, 4),
        ),
    ],
    "NoiseInjection": [
        (dict(resolution=4), lambda m, r: (_normal(r, N, 4, 4, 3),), dict(noise_mode="const"), (N, 4, 4, 3)),
    ],
    "SynthesisLayer": [
        (
            dict(filters=4, w_dim=8, resolution=8, up=2),
            lambda m, r: (_normal(r, N, 4, 4, 3), _normal(r, N, 8)),
            dict(noise_mode="const"),
            (N, 8, 8, 4),
        ),
    ],
    "ToRGB": [
        (dict(channels=3, w_dim=8), lambda m, r: (_normal(r, N, 4, 4, 4), _normal(r, N, 8)), {}, (N, 4, 4, 3)),
    ],
    "MappingNetwork": [
        (dict(z_dim=8, c_dim=0, w_dim=8, num_ws=3, num_layers=2), lambda m, r: (_normal(r, N, 8),), {}, (N, 3, 8)),
        (
            dict(z_dim=8, c_dim=3, w_dim=8, num_ws=3, num_layers=2),
            lambda m, r: (_normal(r, N, 8), tf.one_hot([0, 2], 3)),
            {},
            (N, 3, 8),
        ),
    ],
    "SynthesisBlock": [
        (
            dict(SYNTHESIS_BLOCK, in_channels=0, out_channels=8, resolution=4, is_last=False),
            lambda m, r: (None, None, _ws(m, r, m.num_conv + m.num_torgb)),
            dict(noise_mode="const"),
            ((N, 4, 4, 8), (N, 4, 4, 3)),
        ),
        (
            dict(SYNTHESIS_BLOCK, in_channels=8, out_channels=4, resolution=8, is_last=True, architecture="resnet"),
            lambda m, r: (_normal(r, N, 4, 4, 8), None, _ws(m, r, m.num_conv + m.num_torgb)),
            dict(noise_mode="const"),
            ((N, 8, 8, 4), (N, 8, 8, 3)),
        ),
    ],
    "SynthesisNetwork": [
        (
            dict(w_dim=8, img_resolution=8, img_channels=3, channels=SMALL_CHANNELS),
            lambda m, r: (_ws(m, r, m.num_ws),),
            dict(noise_mode="const"),
            (N, 8, 8, 3),
        ),
    ],
    "Generator": [
        (
            dict(
                GENERATOR, c_dim=0, img_channels=3, mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SMALL_SYNTHESIS
            ),
            lambda m, r: (_normal(r, N, 8),),
            dict(noise_mode="const"),
            (N, 8, 8, 3),
        ),
        (
            dict(
                GENERATOR, c_dim=2, img_channels=1, mapping_kwargs=dict(num_layers=1), synthesis_kwargs=ORIG_SYNTHESIS
            ),
            lambda m, r: (_normal(r, N, 8), tf.one_hot([1, 0], 2)),
            dict(noise_mode="const", truncation_psi=0.5),
            (N, 8, 8, 1),
        ),
    ],
    "DiscriminatorBlock": [
        (
            dict(DISCRIMINATOR_BLOCK, in_channels=0, tmp_channels=4, out_channels=8, is_first=True),
            lambda m, r: (None, _normal(r, N, 8, 8, 3)),
            {},
            ((N, 4, 4, 8), None),
        ),
        (
            dict(
                DISCRIMINATOR_BLOCK, in_channels=8, tmp_channels=8, out_channels=8, is_first=False, architecture="skip"
            ),
            lambda m, r: (_normal(r, N, 8, 8, 8), _normal(r, N, 8, 8, 3)),
            {},
            ((N, 4, 4, 8), (N, 4, 4, 3)),
        ),
    ],
    "Discriminator": [
        (
            dict(DISCRIMINATOR, c_dim=0),
            lambda m, r: (_normal(r, N, 8, 8, 3),),
            {},
            (N, 1),
        ),
        (
            dict(DISCRIMINATOR, c_dim=3, architecture="skip"),
            lambda m, r: (_normal(r, N, 8, 8, 3), tf.one_hot([0, 1], 3)),
            {},
            (N, 1),
        ),
    ],
}


def _public_classes():
    found = {}
    for package in (layers, networks):
        for name in package.__all__:
            obj = getattr(package, name)
            if isinstance(obj, type) and issubclass(obj, keras.layers.Layer):
                found[name] = obj
    return found


CLASSES = _public_classes()
CASES = [(name, i) for name in sorted(CLASSES) if name not in NOT_CALLABLE for i in range(len(EXAMPLES.get(name, [])))]


def test_every_public_class_has_an_example():
    missing = sorted(set(CLASSES) - set(EXAMPLES) - NOT_CALLABLE)
    assert not missing, f"add example arguments to EXAMPLES in tests/test_layer_harness.py for {missing}"
    unknown = sorted(set(EXAMPLES) - set(CLASSES))
    assert not unknown, f"EXAMPLES names classes that are not public any more: {unknown}"
    assert len(CLASSES) >= 13  # the harness really found the packages' classes


def _flat(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def _shapes(outputs):
    return tuple(None if o is None else tuple(o.shape) for o in _flat(outputs))


def _assert_same(got, want, what):
    got, want = _flat(got), _flat(want)
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        if w is None:
            assert g is None, what
        else:
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5, err_msg=what)


def _copy_weights(dst, src):
    assert len(dst.weights) == len(src.weights)
    dst.set_weights(src.get_weights())  # checks every shape


@pytest.fixture(params=CASES, ids=[f"{n}-{i}" for n, i in CASES])
def case(request):
    name, index = request.param
    kwargs, inputs, call_kwargs, shapes = EXAMPLES[name][index]
    return CLASSES[name], kwargs, inputs, call_kwargs, shapes


def test_layer_harness(case, op_impl, tmp_path):
    cls, kwargs, inputs, call_kwargs, shapes = case
    rng = np.random.default_rng(0)
    layer = cls(**kwargs)
    args = inputs(layer, rng)

    # Build and call: the documented output shapes.
    out = layer(*args, **call_kwargs)
    want_shapes = shapes if isinstance(shapes[0], tuple) or shapes[0] is None else (shapes,)
    assert _shapes(out) == tuple(want_shapes), f"{cls.__name__}: output shapes {_shapes(out)}"
    assert layer.built
    # Layers that define their own compute_output_shape: it agrees with the call.
    if any("compute_output_shape" in vars(k) for k in cls.__mro__ if k.__module__.startswith("sg2tf.")):
        assert tuple(layer.compute_output_shape(tuple(args[0].shape))) == _shapes(out)[0], "compute_output_shape"
    assert all(np.isfinite(np.asarray(o)).all() for o in _flat(out) if o is not None)

    # get_config / from_config through JSON: the same config, the same outputs with the same weights.
    config = layer.get_config()
    clone = cls.from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone(*args, **call_kwargs)
    _copy_weights(clone, layer)
    _assert_same(clone(*args, **call_kwargs), out, f"{cls.__name__}: from_config clone")

    # Keras serialization (the registered name, through JSON).
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is cls and restored.get_config() == config
    restored(*args, **call_kwargs)
    _copy_weights(restored, layer)
    _assert_same(restored(*args, **call_kwargs), out, f"{cls.__name__}: deserialized")

    # A .keras file: the networks are Models themselves; a layer is saved inside a small Model.
    model = layer if isinstance(layer, keras.Model) else _Holder(layer, call_kwargs)
    model(*args, **call_kwargs) if model is layer else model(list(args))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_layer = loaded if isinstance(layer, keras.Model) else loaded.layer
    assert type(loaded_layer) is cls and loaded_layer.get_config() == config
    got = loaded(*args, **call_kwargs) if isinstance(layer, keras.Model) else loaded(list(args))
    _assert_same(got, out, f"{cls.__name__}: loaded from .keras")


@keras.saving.register_keras_serializable(package="sg2tf_tests")
class _Holder(keras.Model):
    """A Model around one layer, so that the layer can go through `Model.save` / `load_model`."""

    def __init__(self, layer, call_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer
        self.call_kwargs = dict(call_kwargs or {})

    def build(self, input_shape=None):
        self.built = True  # the layer inside is built by its own build config

    def call(self, args):
        return self.layer(*args, **self.call_kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.layer),
            "call_kwargs": self.call_kwargs,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)


@pytest.mark.parametrize(
    "name", sorted(n for n in EXAMPLES if "compute_dtype" in inspect.signature(CLASSES[n]).parameters)
)
def test_an_unknown_compute_dtype_is_refused(name):
    kwargs = dict(EXAMPLES[name][0][0], compute_dtype="float64")
    with pytest.raises(ValueError, match="compute_dtype must be one of"):
        CLASSES[name](**kwargs)
