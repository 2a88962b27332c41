"""The exported generator: a `tf.Module` with the serving signatures.

Signatures (every output is a dict, as TF Serving and TFLite signature runners need):

  * `serving_default(z, [c], truncation_psi) -> {'images': uint8 [N, H, W, C]}`
  * `mapping(z, [c], truncation_psi) -> {'ws': float32 [N, num_ws, w_dim]}`
  * `synthesis(ws) -> {'images': uint8 [N, H, W, C]}`
  * `synthesis_float(ws) -> {'images': float32 [N, H, W, C]}` (about [-1, 1], before
    the uint8 conversion; for comparisons and custom post-processing)
  * `generate_seeds(seeds, [c], truncation_psi) -> {'images': uint8}` (SavedModel only):
    latents from int64 seeds with numpy's `RandomState(seed).randn(1, z_dim)`,
    computed in the graph (see `numpy_rng`), so a seed gives `sg2tf-generate`'s image.

`c` (float32 `[N, c_dim]`) exists only for conditional networks. The noise mode and
the truncation cutoff are fixed when exporting, and so is the compute precision: the
generator is traced as given, so a float16-trained network is exported in float32 by
passing `sg2tf.networks.precision.with_precision(G, 'float32')` (the exporters do this by
default). Everything is traced with the reference ops (`dispatch.impl_scope('ref')`), so
exports hold stock TensorFlow ops.
"""

import tensorflow as tf

from sg2tf.export import numpy_rng
from sg2tf.networks import precision as precision_lib
from sg2tf.ops import dispatch

EXPORT_NOISE_MODES = ("const", "none")
SIGNATURES = ("serving_default", "mapping", "synthesis", "synthesis_float", "generate_seeds")
TFLITE_SIGNATURES = ("serving_default", "mapping", "synthesis", "synthesis_float")
MAX_SEED = 2**32 - 1


def to_uint8(images):
    """`sg2tf.utils.images.to_uint8` in the graph: clip(x * 127.5 + 128, 0, 255) and a
    truncating cast."""
    return tf.cast(tf.clip_by_value(images * 127.5 + 128.0, 0.0, 255.0), tf.uint8)


def _with_ref_ops(fn):
    """Runs `fn` with the reference ops whenever TensorFlow traces it: saving may trace
    again, outside any scope set by the caller."""

    def wrapped(*args):
        with dispatch.impl_scope("ref"):
            return fn(*args)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


class _Untracked:
    """Holds the Keras generator out of sight of SavedModel tracking (Keras would add
    its own objects and functions; the export keeps only variables and signatures)."""

    def __init__(self, value):
        self.value = value


class GeneratorModule(tf.Module):
    """Wraps a generator for export.

    Args:
      G: an sg2tf `Generator`.
      noise_mode: 'const' or 'none' (fixed in the export; 'random' is not reproducible).
      truncation_cutoff: truncate only the first this many ws (None: all), fixed.
      batch: None for a dynamic batch (SavedModel), or the fixed batch of a TFLite model.
      validate: add run-time checks with clear messages (every input's shape, as TF
        Serving does not check them; psi and latents finite, seeds in range, c one-hot with
        a row per latent). TFLite has no Assert op; its models use False and
        rely on the fixed input shapes.
    """

    def __init__(
        self, G, noise_mode="const", truncation_cutoff=None, batch=None, validate=True, name="sg2tf_generator"
    ):
        super().__init__(name=name)
        if noise_mode not in EXPORT_NOISE_MODES:
            raise ValueError(
                f"noise_mode must be one of {EXPORT_NOISE_MODES} for an export "
                f"(random noise is not reproducible), got {noise_mode!r}"
            )
        if batch is not None and int(batch) < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        if truncation_cutoff is not None and not 0 <= int(truncation_cutoff) <= G.num_ws:
            raise ValueError(f"truncation_cutoff must be in [0, {G.num_ws}], got {truncation_cutoff}")
        self._holder = _Untracked(G)
        self.noise_mode = noise_mode
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        self.batch = None if batch is None else int(batch)
        self.validate = bool(validate)
        self.z_dim, self.c_dim, self.w_dim = G.z_dim, G.c_dim, G.w_dim
        self.num_ws = G.num_ws
        self.img_resolution, self.img_channels = G.img_resolution, G.img_channels
        self.img_shape = tuple(G.img_shape)  # (height, width): (R, R) unless G is non-square
        # Track the underlying tf.Variables only (no Keras objects in the SavedModel).
        self.generator_variables = [getattr(v, "value", v) for v in G.variables]
        self._functions = None

    @property
    def _G(self):
        return self._holder.value

    # ------------------------------------------------------------------ computations

    def _check_finite(self, x, what):
        if not self.validate:
            return x
        return tf.debugging.assert_all_finite(x, f"{what} must contain finite numbers only")

    def _check_psi(self, psi):
        if not self.validate:
            return psi
        return tf.debugging.assert_all_finite(
            psi, "truncation_psi must be a finite number (1 = no truncation, e.g. 0.7)"
        )

    def _check_shape(self, x, dims, what):
        """`x` (a request's input) has shape `dims` (None: any size). TF Serving feeds the graph
        without checking inputs against the signature's shapes, so the graph checks them: an
        EnsureShape op, whose output is what the network reads (an assertion with a control
        dependency would race the network's own failure). Its node is named after the rule,
        e.g. `z_must_have_shape_N_512`, and its message names the input and the shapes."""
        if not self.validate:
            return x
        rule = "_".join("N" if d is None else str(d) for d in dims) or "scalar"
        return tf.ensure_shape(x, dims, name=f"{what}_must_have_shape_{rule}")

    def _check_one_hot(self, c):
        if not self.validate:
            return c
        ok = tf.logical_and(
            tf.reduce_all(tf.logical_or(tf.equal(c, 0.0), tf.equal(c, 1.0))),
            tf.reduce_all(tf.equal(tf.reduce_sum(c, axis=1), 1.0)),
        )
        message = f"c must be one-hot: one 1 per row (the class), {self.c_dim} columns, the rest 0; got"
        with tf.control_dependencies([tf.debugging.Assert(ok, [message, c], summarize=3 * self.c_dim)]):
            return tf.identity(c)

    def _check_batch(self, x, reference, what):
        """`x` has a row per row of `reference` (z, or the seeds' z). The failure names both counts
        in one sentence, and its node the rule (`c_must_have_one_row_per_z`), as `_check_shape`."""
        if not self.validate:
            return x
        rows, expected = tf.shape(x)[0], tf.shape(reference)[0]
        message = tf.strings.format(
            f"{what} must have as many rows as z (or seeds), one per image: got {{}} rows of {what} for {{}} of z",
            [rows, expected],
        )
        check = tf.debugging.Assert(tf.equal(rows, expected), [message], name=f"{what}_must_have_one_row_per_z")
        with tf.control_dependencies([check]):
            return tf.identity(x)

    def _mapping(self, z, c, psi):
        z = self._check_finite(self._check_shape(z, [None, self.z_dim], "z"), "z")
        psi = self._check_psi(self._check_shape(psi, [], "truncation_psi"))
        if c is not None:
            c = self._check_shape(c, [None, self.c_dim], "c")
            c = self._check_one_hot(self._check_batch(c, z, "c"))
        return self._G.mapping(z, c, truncation_psi=psi, truncation_cutoff=self.truncation_cutoff)

    def _synthesis(self, ws):
        return self._G.synthesis(ws, noise_mode=self.noise_mode)

    def _seeds_to_z(self, seeds):
        seeds = self._check_shape(seeds, [None], "seeds")
        if self.validate:
            ok = tf.logical_and(tf.reduce_all(seeds >= 0), tf.reduce_all(seeds <= MAX_SEED))
            with tf.control_dependencies(
                [tf.debugging.Assert(ok, ["seeds must be in [0, 2**32 - 1]; got", seeds], summarize=16)]
            ):
                seeds = tf.identity(seeds)
        return numpy_rng.randn_from_seeds(seeds, self.z_dim)

    # ------------------------------------------------------------------- signatures

    def _specs(self):
        n = self.batch
        z = tf.TensorSpec([n, self.z_dim], tf.float32, name="z")
        c = tf.TensorSpec([n, self.c_dim], tf.float32, name="c")
        psi = tf.TensorSpec([], tf.float32, name="truncation_psi")
        ws = tf.TensorSpec([n, self.num_ws, self.w_dim], tf.float32, name="ws")
        seeds = tf.TensorSpec([n], tf.int64, name="seeds")
        return z, c, psi, ws, seeds

    def _build_functions(self):
        z_spec, c_spec, psi_spec, ws_spec, seeds_spec = self._specs()
        conditional = self.c_dim > 0

        if conditional:

            def serving_default(z, c, truncation_psi):
                return {"images": to_uint8(self._synthesis(self._mapping(z, c, truncation_psi)))}

            def mapping(z, c, truncation_psi):
                return {"ws": self._mapping(z, c, truncation_psi)}

            def generate_seeds(seeds, c, truncation_psi):
                z = self._seeds_to_z(seeds)
                return {"images": to_uint8(self._synthesis(self._mapping(z, c, truncation_psi)))}

            latent_specs = [z_spec, c_spec, psi_spec]
            seed_specs = [seeds_spec, c_spec, psi_spec]
        else:

            def serving_default(z, truncation_psi):
                return {"images": to_uint8(self._synthesis(self._mapping(z, None, truncation_psi)))}

            def mapping(z, truncation_psi):
                return {"ws": self._mapping(z, None, truncation_psi)}

            def generate_seeds(seeds, truncation_psi):
                z = self._seeds_to_z(seeds)
                return {"images": to_uint8(self._synthesis(self._mapping(z, None, truncation_psi)))}

            latent_specs = [z_spec, psi_spec]
            seed_specs = [seeds_spec, psi_spec]

        def checked_ws(ws):
            return self._check_finite(self._check_shape(ws, [None, self.num_ws, self.w_dim], "ws"), "ws")

        def synthesis(ws):
            return {"images": to_uint8(self._synthesis(checked_ws(ws)))}

        def synthesis_float(ws):
            return {"images": tf.identity(self._synthesis(checked_ws(ws)))}

        bodies = {
            "serving_default": (serving_default, latent_specs),
            "mapping": (mapping, latent_specs),
            "synthesis": (synthesis, [ws_spec]),
            "synthesis_float": (synthesis_float, [ws_spec]),
            "generate_seeds": (generate_seeds, seed_specs),
        }
        self._functions = {
            name: tf.function(_with_ref_ops(body), input_signature=specs, autograph=False)
            for name, (body, specs) in bodies.items()
        }
        # Attributes make the functions part of the saved object graph.
        for key, fn in self._functions.items():
            setattr(self, key, fn)

    def concrete_functions(self, names=SIGNATURES):
        """`{name: ConcreteFunction}`, traced with the reference (stock TensorFlow) ops."""
        if self._functions is None:
            self._build_functions()
        with dispatch.impl_scope("ref"):
            return {name: self._functions[name].get_concrete_function() for name in names}

    def metadata(self):
        """Facts a client needs, written next to the export as JSON."""
        return {
            "z_dim": self.z_dim,
            "c_dim": self.c_dim,
            "w_dim": self.w_dim,
            "num_ws": self.num_ws,
            "img_resolution": self.img_resolution,
            "img_height": self.img_shape[0],
            "img_width": self.img_shape[1],
            "img_channels": self.img_channels,
            "noise_mode": self.noise_mode,
            "truncation_cutoff": self.truncation_cutoff,
            "batch": self.batch,
            "compute_precision": precision_lib.describe(self._G),
            "seed_rule": "np.random.RandomState(seed).randn(1, z_dim) as float32",
            "image_rule": "clip(x * 127.5 + 128, 0, 255) cast to uint8",
        }
