"""Where the training step's random inputs come from: `Draws`.

The trainer asks a `Draws` for every random input of a step, so that its phases read the
same whichever source answers: `RandomDraws` (training: one checkpointed
`tf.random.Generator`) or `RecordedDraws` (a recording, e.g. of the official training loop:
`sg2tf.training.replay`).

Two calls per phase, as the official loop draws a phase's latents and labels for the whole
batch and its loss draws the rest per device batch:

* `phase(name, n, ...)`, in cross-replica context: the phase's `PhaseDraws` for the global
  batch of `n` samples (latents, generated images' labels, style mixing, and what the
  per-group draws derive from: seeds, or recorded arrays);
* per sample group (one accumulation round on one replica, a `Group`), in replica context:
  `generator_inputs`, `pl_directions` and `augment` turn the phase's draws into the round's
  inputs of the loss (`sg2tf.losses.RoundInputs`).

Per-sample values are drawn for the whole global batch and sliced by the group's rows, so
that latents, labels and augmentation parameters do not depend on the replica/round layout.
As in both originals, style mixing draws one cutoff (and one gate) per device batch: every
sample of a group shares them.
"""

import functools
from typing import Any, NamedTuple

import tensorflow as tf

from sg2tf.losses import GeneratorInputs, StatelessNoise
from sg2tf.losses.stylegan2 import path_length_noise


class Group(NamedTuple):
    """One device batch: an accumulation round on one replica.

    Attributes:
      index: `replica * rounds + round` (the order of groups over the global batch).
      start: its first sample in the global batch.
      size: its number of samples (path length: the first `size` of the round).
    """

    index: Any
    start: Any
    size: int


class PhaseDraws(NamedTuple):
    """A phase's random inputs over the global batch.

    Attributes:
      gen: G's `GeneratorInputs` for all `B` samples (one style-mixing layer and gate per
        group); its `noise` is what a source derives G's noise from (a seed; recorded arrays).
      pl_directions, aug: what a source derives the path-length directions and the
        augmentation parameters from (one entry per augmentation call of the phase).
    """

    gen: GeneratorInputs
    pl_directions: Any = None
    aug: tuple = ()


def rows(x, group):
    """The group's samples of a global-batch tensor (or nested structure of them)."""
    return tf.nest.map_structure(lambda t: t[group.start : group.start + group.size], x)


class Draws:
    """The interface (see the module docstring). Subclasses implement `phase`, `noise`,
    `pl_directions` and `augment_params`."""

    def tensors(self):
        """The tensors this source holds, to pass into a compiled step (None: none)."""
        return None

    def bind(self, tensors):
        """This source with `tensors` (the compiled step's arguments) instead of its own."""
        return self

    def check_phases(self, phases):
        """Called with the phases a step runs, before it runs."""

    def phase(self, name, n, pl_shape=None, aug_calls=0):
        """The `PhaseDraws` of phase `name` for the global batch of `n` samples.

        `pl_shape`: `[H, W, C]` of path-length directions (G_reg); `aug_calls`: how many
        times the phase augments."""
        raise NotImplementedError

    def noise(self, draws, group):
        """G's `random` noise source for the group (a `noise_generator`)."""
        raise NotImplementedError

    def pl_directions(self, draws, group, shape):
        """The group's path-length directions, `shape` `[N, H, W, C]`."""
        raise NotImplementedError

    def augment_params(self, draws, call, group):
        """`AugmentPipe` keyword arguments of the group's `call`-th augmentation."""
        raise NotImplementedError

    def generator_inputs(self, draws, group):
        """The group's `GeneratorInputs`."""
        g = draws.gen
        z, c, mix_z, layer, gate = rows((g.z, g.c, g.mix_z, g.mix_layer, g.mix_gate), group)
        return GeneratorInputs(z, c, mix_z, layer, gate, noise=self.noise(draws, group))

    def augment(self, draws, group, pipe, p):
        """The group's augmentations (`images -> images`, one per call of the phase)."""
        if pipe is None:
            return ()
        calls = range(len(draws.aug))
        return tuple(functools.partial(pipe, p=p, **self.augment_params(draws, k, group)) for k in calls)


class RandomDraws(Draws):
    """Draws from a `tf.random.Generator` (the trainer's, checkpointed with it).

    Args:
      rng: the generator; drawn from in cross-replica context only.
      z_dim, num_ws: G's latent size and number of ws.
      group_size: samples per device batch (`batch_gpu`): one style-mixing cutoff each.
      labels: the dataset's labels `[N, c_dim]` the generated images' labels are drawn from
        (uniformly over the dataset, as the official loop), or None for c_dim 0.
      c_dim: the label size.
      aug_uniforms: uniforms per sample of the augmentation pipeline (0: none).
    """

    def __init__(self, rng, z_dim, num_ws, group_size, labels=None, c_dim=0, aug_uniforms=0):
        if c_dim and labels is None:
            raise ValueError("RandomDraws: a conditional G needs the dataset's labels")
        self.rng, self.z_dim, self.num_ws, self.group_size = rng, z_dim, num_ws, group_size
        self.labels = None if labels is None else tf.constant(labels, tf.float32)
        self.c_dim, self.aug_uniforms = c_dim, aug_uniforms

    def phase(self, name, n, pl_shape=None, aug_calls=0):
        z = self.rng.normal([n, self.z_dim])
        c = tf.zeros([n, 0])
        if self.c_dim:
            c = tf.gather(self.labels, self._integers([n], tf.shape(self.labels)[0]))
        mix_z = self.rng.normal([n, self.z_dim])
        # One layer and gate per group: its first sample's (drawn per sample, so that the
        # stream of draws does not depend on the layout).
        layer = 1 + self._integers([n], max(self.num_ws - 1, 1))
        gate = self.rng.uniform([n])
        aug = tuple((self.rng.uniform([n, self.aug_uniforms]), self._seed()) for _ in range(aug_calls))
        layer, gate = (tf.repeat(x[:: self.group_size], self.group_size) for x in (layer, gate))
        return PhaseDraws(
            gen=GeneratorInputs(z, c, mix_z, layer, gate, noise=self._seed()),
            pl_directions=self._seed() if pl_shape is not None else None,
            aug=aug if self.aug_uniforms else (),
        )

    def _seed(self):
        return self.rng.make_seeds(1)[:, 0]

    def _integers(self, shape, count):
        """Uniform integers in `[0, count)` (from uniform floats: the generator is asked only
        for `normal`, `uniform` and `make_seeds`)."""
        u = self.rng.uniform(shape)
        return tf.minimum(tf.cast(tf.floor(u * tf.cast(count, tf.float32)), tf.int32), count - 1)

    @staticmethod
    def _fold(seed, group, k=0):
        """The seed of the group's `k`-th use of a phase seed. Integer arithmetic, not
        `stateless_fold_in`: that draws, and XLA draws other bits than TensorFlow."""
        return tf.stack([seed[0], seed[1] + tf.cast(group.index, tf.int64) * 4 + k])

    def noise(self, draws, group):
        # From the phase seed and the group, so that it is checkpointed and layout-independent.
        return StatelessNoise(self._fold(draws.gen.noise, group))

    def pl_directions(self, draws, group, shape):
        return path_length_noise(shape, self._fold(draws.pl_directions, group))

    def augment_params(self, draws, call, group):
        uniforms, seed = draws.aug[call]
        return dict(uniforms=rows(uniforms, group), seed=self._fold(seed, group, call))


class RecordedNoise:
    """A `noise_generator` (see `SynthesisNetwork.call`) that returns given arrays in order."""

    def __init__(self, arrays):
        self.arrays = list(arrays)
        self.calls = 0

    def normal(self, shape, dtype=tf.float32):
        if self.calls >= len(self.arrays):
            raise ValueError(f"RecordedNoise: {len(self.arrays)} noise arrays given, the network asks for more")
        value = tf.cast(self.arrays[self.calls], dtype)
        self.calls += 1
        want = [tf.get_static_value(d) if isinstance(d, tf.Tensor) else d for d in shape]
        if len(want) != value.shape.rank or any(
            w is not None and v is not None and int(w) != v for w, v in zip(want, value.shape)
        ):
            raise ValueError(
                f"RecordedNoise: noise array {self.calls - 1} has shape {value.shape}, the network asks for {want}"
            )
        return value


class RecordedDraws(Draws):
    """The draws of a recording: `{phase: {name: array}}` for the phases the step runs, every
    array over the global batch (replicas and rounds take their slices):

      z, mix_z [B, z_dim]     latents and style-mixing second latents (G_main, G_reg, D_main)
      c [B, c_dim]            labels of the generated images
      mix_layer, mix_gate     the style-mixing layer and its uniform gate (scalars: the
                              whole batch, as the official loss draws them; without them no
                              sample mixes)
      noise                   list of [B, H, W, 1], G's `random` noise in layer order
      pl_noise [Bpl, H, W, C] path-length directions, already divided by sqrt(H*W), group
                              after group (G_reg)
      aug                     list of `AugmentPipe` params dicts (see sg2tf.augment.ada), one
                              per augment call: G_main [fakes], D_main [fakes, reals], D_reg
                              [reals]

    G_reg uses the first `batch_gpu // pl_batch_shrink` samples of each round (its `mix_z`
    and `noise` may hold just those).
    """

    def __init__(self, recording):
        self.recording = recording

    def tensors(self):
        return tf.nest.map_structure(tf.convert_to_tensor, self.recording)

    def bind(self, tensors):
        return RecordedDraws(tensors)

    def check_phases(self, phases):
        missing, extra = set(phases) - set(self.recording), set(self.recording) - set(phases)
        if missing or extra:
            raise ValueError(
                f"RecordedDraws: the step runs {list(phases)}; the recording lacks {sorted(missing)} "
                f"and has {sorted(extra)} besides"
            )

    def phase(self, name, n, pl_shape=None, aug_calls=0):
        d = self.recording[name]
        recorded = len(d.get("aug", ()))
        if recorded != aug_calls:
            raise ValueError(f"RecordedDraws: {name} augments {aug_calls} times, the recording has {recorded}")
        z = d.get("z", tf.zeros([n, 1]))
        gen = GeneratorInputs(
            z=z,
            c=d.get("c", tf.zeros([n, 0])),
            mix_z=d.get("mix_z", tf.zeros_like(z)),
            mix_layer=tf.fill([n], tf.cast(d.get("mix_layer", 1), tf.int32)),
            mix_gate=tf.fill([n], tf.cast(d.get("mix_gate", 1.0), tf.float32)),
            noise=tuple(d.get("noise", ())),
        )
        return PhaseDraws(gen, pl_directions=d.get("pl_noise"), aug=tuple(d.get("aug", ())))

    def noise(self, draws, group):
        return RecordedNoise(rows(list(draws.gen.noise), group))

    def pl_directions(self, draws, group, shape):
        start = tf.cast(group.index, tf.int32) * shape[0]
        return draws.pl_directions[start : start + shape[0]]

    def augment_params(self, draws, call, group):
        return dict(params=rows(draws.aug[call], group))
