"""The training state and the StyleGAN2 training step on tf.distribute.

One call of `Trainer.train_step` trains on one global batch, in the phases of the
official code: G main, G path-length regularization (every `g_reg_interval` steps),
D main, D R1 regularization (every `d_reg_interval` steps), then G_ema, the counters and
the ADA probability. The regularization phases are separate optimizer steps with the
lazy-regularization correction of learning rate and betas.

Data layout. The step receives this worker's share of the global batch. Every replica
takes its own consecutive slice, and splits it into `batch_gpu`-sized gradient
accumulation rounds. All per-sample random numbers (latents, style mixing, augmentation
parameters) are drawn for the whole global batch from one checkpointed
`tf.random.Generator` and sliced the same way, so results do not depend on how the
global batch is split across replicas and rounds. G's random noise inputs and the
path-length directions come from per-phase seeds of that generator, folded with the
sample group (replica, round).

Injected draws (the replay seam). `train_step(reals, labels, draws=..., capture=True)`
takes every random draw of the step from `draws` (latents, style-mixing cutoffs and second
latents, generated-image labels, G's noise, path-length directions, augmentation parameters;
format in `sg2tf.training.replay`) and returns each phase's gradients: how sg2tf is compared
with the official training loop step for step, and how a training difference is debugged.

Normalisation. Each loss is a mean over the global batch: a round contributes the
sum of its per-sample losses divided by the global batch size, rounds are summed and
the optimizer sums over replicas. Statistics are returned as cross-replica sums.
"""

import keras
import numpy as np
import tensorflow as tf

from sg2tf import losses
from sg2tf.ops import dispatch
from sg2tf.training import replay, schedules
from sg2tf.training.freeze import freeze_filter_d, freeze_filter_g


def _nonfinite_count(grads):
    return tf.add_n(
        [tf.reduce_sum(tf.cast(~tf.math.is_finite(tf.cast(g, tf.float32)), tf.int32)) for g in grads if g is not None]
        or [tf.constant(0)]
    )


def _gradients(tape, target, variables):
    """Gradients w.r.t. Keras variables; zeros for variables the target does not reach."""
    return tape.gradient(target, [v.value for v in variables], unconnected_gradients=tf.UnconnectedGradients.ZERO)


class SkipNonFiniteOptimizer(keras.optimizers.LossScaleOptimizer):
    """A `LossScaleOptimizer` whose scale stays 1: no loss scaling (float32, bfloat16),
    only the skipping of a step with non-finite gradients.

    The stock optimizer would halve its scale at every skipped step (and never grow it
    back with an infinite growth interval). Same variables as the stock one, so
    checkpoints are interchangeable.
    """

    def _stateful_handle_finite_grads(self, grads, trainable_variables):
        self.inner_optimizer.apply(grads, trainable_variables=trainable_variables)

    def _stateful_handle_non_finite_grads(self):
        pass


class TorchAdam(keras.optimizers.Adam):
    """Adam as `torch.optim.Adam` computes it: epsilon is added to the bias-corrected
    `sqrt(v / (1 - beta_2^t))`, where Keras (and TF1's `AdamOptimizer`, which StyleGAN2's
    TF code used) add it to `sqrt(v)` before the correction, an epsilon larger by
    `1 / sqrt(1 - beta_2^t)` (12x at the first lazy-regularized step). It matters where
    gradients are tiny (the mapping network's). Same variables as Keras's Adam.
    """

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        step = tf.cast(self.iterations + 1, variable.dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, variable.dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, variable.dtype), step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, (gradient - m) * (1 - self.beta_1))
        self.assign_add(v, (tf.square(gradient) - v) * (1 - self.beta_2))
        alpha = lr / (1 - beta_1_power)
        self.assign_sub(variable, m * alpha / (tf.sqrt(v / (1 - beta_2_power)) + self.epsilon))


def make_optimizer(lr_variable, reg_interval, fp16, variant="torch"):
    """Adam(0, 0.99, 1e-8) with the lazy-regularization correction, wrapped for loss scaling.

    `variant`: where epsilon goes (`sg2tf.constants.ADAM_VARIANTS`): "torch" (`TorchAdam`)
    or "tf1" (Keras's Adam, which places it as TF1's `AdamOptimizer`).

    The learning rate is read from `lr_variable` at every update (the training step
    assigns it from its schedule, already multiplied by the correction ratio).
    Float16 uses dynamic loss scaling; float32 and bfloat16 (float32's exponent range)
    none: their wrapper only skips non-finite steps.
    """
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    adam_class = {"torch": TorchAdam, "tf1": keras.optimizers.Adam}[variant]
    adam = adam_class(
        learning_rate=lambda: lr_variable.read_value(), beta_1=0.0**ratio, beta_2=0.99**ratio, epsilon=1e-8
    )
    if fp16:
        return keras.optimizers.LossScaleOptimizer(adam, initial_scale=2.0**15, dynamic_growth_steps=2000), ratio
    return SkipNonFiniteOptimizer(adam, initial_scale=1.0, dynamic_growth_steps=2**30), ratio


class Trainer:
    """Networks, optimizers, counters and the distributed training step.

    Args:
      opts: the run's `sg2tf.training.options.TrainingOptions`.
      strategy: a tf.distribute strategy; the networks must have been created in its scope.
      G, D, G_ema: networks (G_ema has G's configuration).
      augment_pipe: an `sg2tf.augment.AugmentPipe` or None.
      num_workers: number of input pipelines (hosts); this worker's batch is
        `batch / num_workers`.
    """

    def __init__(self, opts, strategy, G, D, G_ema, augment_pipe=None, num_workers=1):
        self.opts = opts
        self.strategy = strategy
        self.G, self.D, self.G_ema = G, D, G_ema
        self.augment_pipe = augment_pipe
        self.num_replicas = strategy.num_replicas_in_sync
        self.num_workers = num_workers
        self.local_replicas = self.num_replicas // num_workers
        self.batch = int(opts.batch)
        self.batch_gpu = int(opts.batch_gpu)
        self.per_replica = self.batch // self.num_replicas
        self.rounds = self.per_replica // self.batch_gpu
        self.fp16 = opts.fp16_res > 0 and opts.precision == "float16"
        self.glr = schedules.Schedule.parse(opts.glr, "glr")
        self.dlr = schedules.Schedule.parse(opts.dlr, "dlr")
        self.gamma = schedules.Schedule.parse(opts.gamma, "gamma")
        self.noise_mode = opts.noise_mode
        self.pl_batch = max(self.batch_gpu // opts.pl_batch_shrink, 1)
        self.do_pl = opts.pl_weight > 0 and opts.g_reg_interval > 0
        self.do_r1 = max(v for _, v in self.gamma.points) > 0 and opts.d_reg_interval > 0

        for g, e in zip(G.variables, G_ema.variables):
            if g.path.split("/", 1)[1] != e.path.split("/", 1)[1] or g.shape != e.shape:
                raise ValueError(f"G_ema does not match G: {e.path} vs {g.path}")
        frozen_g = freeze_filter_g(G, opts.freeze_g, opts.freeze_mapping)
        frozen_d = freeze_filter_d(D, opts.freezed)
        self.G_vars = [v for v in G.trainable_variables if v.path not in frozen_g]
        self.D_vars = [v for v in D.trainable_variables if v.path not in frozen_d]
        self.frozen = sorted(frozen_g | frozen_d)

        with strategy.scope():
            self.G_lr = tf.Variable(0.0, trainable=False, name="G_lr")
            self.D_lr = tf.Variable(0.0, trainable=False, name="D_lr")
            # The lazy-regularization correction follows the intervals alone, as in both originals:
            # with pl_weight 0 (or gamma 0) the learning rate and betas are still corrected.
            self.opt_G, self.G_ratio = make_optimizer(self.G_lr, opts.g_reg_interval, self.fp16, opts.adam)
            self.opt_D, self.D_ratio = make_optimizer(self.D_lr, opts.d_reg_interval, self.fp16, opts.adam)
            self.opt_G.build(self.G_vars)
            self.opt_D.build(self.D_vars)
            self.cur_nimg = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_nimg")
            self.cur_tick = tf.Variable(0, dtype=tf.int64, trainable=False, name="cur_tick")
            self.batch_idx = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch_idx")
            self.pl_mean = tf.Variable(0.0, trainable=False, name="pl_mean")
            self.augment_p = tf.Variable(
                float(opts.p) if opts.aug != "noaug" else 0.0, trainable=False, name="augment_p"
            )
            self.ada_sign_sum = tf.Variable(0.0, trainable=False, name="ada_sign_sum")
            self.ada_sign_count = tf.Variable(0.0, trainable=False, name="ada_sign_count")
            self.skipped_G = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_G")
            self.skipped_D = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_D")
        # Drawn in cross-replica context only: one stream for the whole run.
        self.rng = tf.random.Generator.from_seed(int(opts.seed))
        self._step_fns = {}
        self._replay_fns = {}
        self._draws = None  # The injected draws while a replay step is traced.
        self._capture = False

    # ---------------------------------------------------------------- checkpoint content
    def checkpoint_objects(self):
        """`{name: trackable}` for tf.train.Checkpoint: every variable by its path, the
        optimizers' variables by index, counters, RNG."""
        objs = {}
        for prefix, model in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            for v in model.variables:
                objs[f"{prefix}:{v.path.split('/', 1)[1]}".replace("/", ".")] = v.value
        for prefix, opt in (("opt_G", self.opt_G), ("opt_D", self.opt_D)):
            for i, v in enumerate(opt.variables):
                objs[f"{prefix}:{i:04d}"] = v.value
        for v in (
            self.cur_nimg,
            self.cur_tick,
            self.batch_idx,
            self.pl_mean,
            self.augment_p,
            self.ada_sign_sum,
            self.ada_sign_count,
            self.skipped_G,
            self.skipped_D,
        ):
            objs["state:" + v.name.split(":")[0]] = v
        objs["rng"] = self.rng
        return objs

    # ---------------------------------------------------------------- helpers
    def _slice(self, x):
        """This replica's consecutive slice of a worker-level tensor."""
        ctx = tf.distribute.get_replica_context()
        local = ctx.replica_id_in_sync_group % self.local_replicas
        return tf.nest.map_structure(lambda t: t[local * self.per_replica : (local + 1) * self.per_replica], x)

    def _global_slice(self, x):
        """This replica's slice of a tensor that spans the global batch."""
        ctx = tf.distribute.get_replica_context()
        rid = ctx.replica_id_in_sync_group
        return tf.nest.map_structure(lambda t: t[rid * self.per_replica : (rid + 1) * self.per_replica], x)

    def _round(self, x, r, size=None):
        size = size or self.batch_gpu
        return tf.nest.map_structure(lambda t: t[r * self.batch_gpu : r * self.batch_gpu + size], x)

    def _augment(self, images, u, seed, p):
        if self.augment_pipe is None:
            return images
        if isinstance(u, dict):  # Injected parameters (replay).
            return self.augment_pipe(images, p, params=u)
        return self.augment_pipe(images, p, u, seed)

    def _injected(self, phase, name, default=None):
        """The injected draw `name` of `phase` (replay), or `default`."""
        if self._draws is None or name not in self._draws.get(phase, {}):
            return default
        return self._draws[phase][name]

    def _latents(self, n, phase=None):
        """Global-batch latents, mixing latents, mixing cutoffs."""
        if self._injected(phase, "z") is not None:
            z = self._injected(phase, "z")
            cut = self._injected(phase, "cutoffs", tf.fill([n], self.G.num_ws))
            return z, self._injected(phase, "mix_z", tf.zeros_like(z)), tf.cast(cut, tf.int32)
        z = self.rng.normal([n, self.G.z_dim])
        mix_z = self.rng.normal([n, self.G.z_dim])
        cut = losses.mixing_cutoffs(self.rng.uniform([n, 2]), self.G.num_ws, self.opts.style_mixing_prob)
        return z, mix_z, cut

    def _aug_randoms(self, n, phase=None, call=0):
        if self.augment_pipe is not None and self._injected(phase, "aug") is not None:
            return self._injected(phase, "aug")[call], tf.zeros([2], tf.int64)
        if self.augment_pipe is None:
            return tf.zeros([n, 1]), tf.zeros([2], tf.int64)
        return (self.rng.uniform([n, self.augment_pipe.num_uniforms]), self.rng.make_seeds(1)[:, 0])

    def _apply(self, opt, grads, variables):
        """Applies summed local grads unless any replica's are non-finite; returns 1 if skipped."""
        ctx = tf.distribute.get_replica_context()
        bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, _nonfinite_count(grads))
        skip = bad > 0
        # Make every replica's grads non-finite when one replica's are, so that the
        # loss-scale optimizer skips the update (and lowers the scale) consistently.
        nan = tf.constant(np.nan, tf.float32)
        grads = [tf.where(skip, nan, g) for g in grads]
        opt.apply_gradients(zip(grads, variables))
        # Read the updated variables, so that the result (which the next phase waits for)
        # depends on the update and its all-reduce.
        reads = [v.value.read_value() for v in variables[:1]] + [opt.iterations.value.read_value()]
        with tf.control_dependencies(reads):
            return tf.cast(skip, tf.float32) + 0.0

    def _noise_seed(self, phase=None):
        """A seed for G's random noise in one phase (drawn only with noise_mode=random), or
        the phase's injected noise arrays."""
        if self.noise_mode == "random" and self._injected(phase, "noise") is not None:
            return list(self._injected(phase, "noise"))
        if self.noise_mode != "random":
            return tf.zeros([2], tf.int64)
        return self.rng.make_seeds(1)[:, 0]

    def _noise(self, seed, r, size=None):
        """G's noise source for round r on this replica: from the phase seed and the sample
        group (replica, round), so it is checkpointed and does not depend on the layout."""
        if self.noise_mode != "random":
            return None
        if isinstance(seed, (list, tuple)):  # Injected noise arrays (replay).
            return replay.RecordedNoise(self._round(self._global_slice(list(seed)), r, size))
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        group = tf.cast(rid * self.rounds + r, tf.int64)
        return losses.StatelessNoise(tf.random.experimental.stateless_fold_in(seed, group))

    def _mixing(self):
        return self.opts.style_mixing_prob > 0

    def _g_inputs(self, r, z, labels, mix_z, cut, noise_seed, size=None):
        """G's inputs for accumulation round r (`size` samples, default batch_gpu), as the
        keyword arguments of `losses.generate_images` and `losses.path_lengths`."""
        return dict(
            z=self._round(z, r, size),
            c=self._round(labels, r, size),
            mix_z=self._round(mix_z, r, size) if self._mixing() else None,
            cutoffs=self._round(cut, r, size),
            noise_mode=self.noise_mode,
            noise_generator=self._noise(noise_seed, r, size),
        )

    # ---------------------------------------------------------------- replica phases
    def _accumulate(self, opt, variables, round_loss, prepare=None):
        """The skeleton of every phase: per accumulation round, the gradients of a loss
        (summed over rounds), then one optimizer update unless any replica's are non-finite.

        Args:
          opt, variables: the optimizer and the variables it updates.
          round_loss: `round_loss(r, prepared) -> (loss, sums)`, run under the gradient tape:
            the round's share of the loss and `{name: tensor}` statistics, summed over rounds.
          prepare: optional `prepare(r)`, run before the tape (inputs that need no gradient).

        Returns:
          `{name: sum over rounds}` plus `"skipped"` (1.0 if the update was skipped).
        """
        grads, sums = None, {}
        for r in range(self.rounds):
            prepared = prepare(r) if prepare is not None else None
            with tf.GradientTape() as tape:
                loss, values = round_loss(r, prepared)
                scaled = opt.scale_loss(loss)
            g = _gradients(tape, scaled, variables)
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            for k, v in values.items():
                sums[k] = v if k not in sums else sums[k] + v
        if self._capture:
            sums["grads"] = [g / opt.scale_loss(tf.constant(1.0)) for g in grads]
        sums["skipped"] = self._apply(opt, grads, variables)
        return sums

    def _g_main(self, labels, z, mix_z, cut, aug_u, aug_seed, p, noise_seed):
        labels = self._slice(labels)
        z, mix_z, cut = self._global_slice(z), self._global_slice(mix_z), self._global_slice(cut)
        aug_u = self._global_slice(aug_u)

        def round_loss(r, _):
            img, ws = losses.generate_images(self.G, **self._g_inputs(r, z, labels, mix_z, cut, noise_seed))
            img = self._augment(img, self._round(aug_u, r), aug_seed + r, p)
            logits = self.D(img, self._round(labels, r))
            per_sample = losses.g_nonsaturating(logits)
            return tf.reduce_sum(per_sample) / self.batch, {
                "loss_G": tf.reduce_sum(per_sample),
                "scores_fake_G": tf.reduce_sum(tf.cast(logits, tf.float32)),
                "w_sum": tf.reduce_sum(ws[:, 0], axis=0),
            }

        out = self._accumulate(self.opt_G, self.G_vars, round_loss)
        out["skipped_G"] = out.pop("skipped")
        return out

    def _g_reg(self, labels, z, mix_z, cut, pl_seed, pl_mean, noise_seed):
        labels = self._slice(labels)
        z, mix_z, cut = self._global_slice(z), self._global_slice(mix_z), self._global_slice(cut)
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        res, ch = self.G.img_resolution, self.G.img_channels
        n_total = self.pl_batch * self.rounds * self.num_replicas
        weight = self.opts.pl_weight * self.opts.g_reg_interval

        def directions(r):
            if pl_seed.shape.rank == 4:  # Injected directions (replay), one group after another.
                group = rid * self.rounds + r
                return pl_seed[group * self.pl_batch : (group + 1) * self.pl_batch]
            seed = tf.stack([pl_seed[0], pl_seed[1] + tf.cast(rid * self.rounds + r, tf.int64)])
            return losses.stylegan2.path_length_noise([self.pl_batch, res, res, ch], seed)

        def round_loss(r, noise):
            inputs = self._g_inputs(r, z, labels, mix_z, cut, noise_seed, self.pl_batch)
            lengths, ws = losses.path_lengths(self.G, noise=noise, return_ws=True, **inputs)
            # Each group of samples (one round on one replica) measures its penalty
            # against the stored mean moved towards the group's own mean (the official
            # per-GPU update); groups do not see each other, so the result does not
            # depend on how groups are laid out over replicas and rounds. The stored
            # mean moves once per step, towards the mean of all groups (`_step`). As in both
            # originals, the gradient flows through the group's mean too.
            local_mean = tf.reduce_mean(lengths)
            group_mean = pl_mean + (local_mean - pl_mean) * self.opts.pl_decay
            penalty = tf.square(lengths - group_mean)
            return tf.reduce_sum(penalty) * weight / n_total, {
                "pl_penalty": tf.reduce_sum(penalty),
                "pl_length_sum": tf.reduce_sum(lengths),
                "w_sum": tf.reduce_sum(tf.stop_gradient(ws[:, 0]), axis=0),
            }

        out = self._accumulate(self.opt_G, self.G_vars, round_loss, directions)
        out["skipped_G"] = out.pop("skipped")
        return out

    def _d_main(self, reals, labels, gen_labels, z, mix_z, cut, aug_u_fake, aug_u_real, aug_seed, p, noise_seed):
        reals, labels, gen_labels = self._slice(reals), self._slice(labels), self._slice(gen_labels)
        z, mix_z, cut = self._global_slice(z), self._global_slice(mix_z), self._global_slice(cut)
        aug_u_fake, aug_u_real = self._global_slice(aug_u_fake), self._global_slice(aug_u_real)

        def fakes(r):  # G's images need no gradient here: generated outside the tape
            img, ws = losses.generate_images(self.G, **self._g_inputs(r, z, gen_labels, mix_z, cut, noise_seed))
            return tf.stop_gradient(img), tf.stop_gradient(ws[:, 0])

        def round_loss(r, fake_and_w):
            img, w = fake_and_w
            c = self._round(labels, r)
            fake = self.D(
                self._augment(img, self._round(aug_u_fake, r), aug_seed + 2 * r, p), self._round(gen_labels, r)
            )
            real = self.D(self._augment(self._round(reals, r), self._round(aug_u_real, r), aug_seed + 2 * r + 1, p), c)
            per_sample = losses.d_logistic(fake, real)
            real32 = tf.cast(real, tf.float32)
            return tf.reduce_sum(per_sample) / self.batch, {
                "loss_D": tf.reduce_sum(per_sample),
                "scores_real": tf.reduce_sum(real32),
                "scores_fake": tf.reduce_sum(tf.cast(fake, tf.float32)),
                "signs_real": tf.reduce_sum(tf.sign(real32)),
                "w_sum": tf.reduce_sum(w, axis=0),
            }

        out = self._accumulate(self.opt_D, self.D_vars, round_loss, fakes)
        out["skipped_D"] = out.pop("skipped")
        return out

    def _d_reg(self, reals, labels, aug_u, aug_seed, p, gamma):
        reals, labels, aug_u = self._slice(reals), self._slice(labels), self._global_slice(aug_u)
        weight = gamma * 0.5 * self.opts.d_reg_interval

        def round_loss(r, _):
            u = self._round(aug_u, r)
            augment = lambda x: self._augment(x, u, aug_seed + r, p)  # noqa: E731
            penalty, logits = losses.r1_penalty(self.D, self._round(reals, r), self._round(labels, r), augment)
            return tf.reduce_sum(penalty) * weight / self.batch, {
                "r1_penalty": tf.reduce_sum(penalty),
                "signs_real_reg": tf.reduce_sum(tf.sign(logits)),
            }

        out = self._accumulate(self.opt_D, self.D_vars, round_loss)
        out["skipped_D"] = out.pop("skipped")
        return out

    # ---------------------------------------------------------------- the step
    def _run(self, fn, args):
        """strategy.run, ordered after everything of the previous phase: replicas must issue
        their collectives in the same order, and independent phases could interleave."""
        with tf.control_dependencies(self._deps):
            args = tf.nest.map_structure(tf.identity, tuple(args))
        out = self.strategy.run(fn, args=args)
        self._deps = [t for v in tf.nest.flatten(out) for t in self.strategy.experimental_local_results(v)]
        return out

    def _reduce(self, values):
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in values.items()}

    def _first(self, value):
        return self.strategy.experimental_local_results(value)[0]

    def _update_w_avg(self, w_sum, n):
        """Moves G's tracked w average towards the mean w of a phase's `n` generated samples
        (as the original's mapping does in every training-mode call but the mixing one)."""
        beta = self.G.mapping.w_avg_beta
        if beta is not None:
            batch_w = w_sum / n
            self.G.mapping.w_avg.assign(batch_w + (self.G.mapping.w_avg - batch_w) * beta)

    def _captured(self, out, stats, phase):
        if "grads" in out:
            stats["grads/" + phase] = [
                self.strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in out.pop("grads")
            ]

    def _step(self, reals, labels, do_greg, do_dreg, do_ada):
        opts, B = self.opts, self.batch
        self._deps = []
        kimg = tf.cast(self.cur_nimg, tf.float32) / 1000.0
        stats = {}
        p = tf.identity(self.augment_p)

        # G main.
        self.G_lr.assign(self.glr.tf_value(kimg) * self.G_ratio)
        self.D_lr.assign(self.dlr.tf_value(kimg) * self.D_ratio)
        z, mix_z, cut = self._latents(B, "G_main")
        aug_u, aug_seed = self._aug_randoms(B, "G_main")
        out = self._run(
            self._g_main,
            (self._injected("G_main", "c", labels), z, mix_z, cut, aug_u, aug_seed, p, self._noise_seed("G_main")),
        )
        self._captured(out, stats, "G_main")
        self._update_w_avg(self._reduce({"w": out.pop("w_sum")})["w"], B)
        red = self._reduce(out)
        stats["loss_G"] = red["loss_G"] / B
        stats["scores_fake_G"] = red["scores_fake_G"] / B
        skipped_G = self._first(out["skipped_G"])

        # G path-length regularization.
        if do_greg:
            z, mix_z, cut = self._latents(B, "G_reg")
            pl_seed = self._injected("G_reg", "pl_noise")
            if pl_seed is None:
                pl_seed = self.rng.make_seeds(1)[:, 0]
            out = self._run(
                self._g_reg,
                (
                    self._injected("G_reg", "c", labels),
                    z,
                    mix_z,
                    cut,
                    pl_seed,
                    tf.identity(self.pl_mean),
                    self._noise_seed("G_reg"),
                ),
            )
            skipped_G += self._first(out.pop("skipped_G"))
            self._captured(out, stats, "G_reg")
            n_pl = float(self.pl_batch * self.rounds * self.num_replicas)
            self._update_w_avg(self._reduce({"w": out.pop("w_sum")})["w"], n_pl)
            red = self._reduce(out)
            pl_length = red["pl_length_sum"] / n_pl
            self.pl_mean.assign(self.pl_mean + (pl_length - self.pl_mean) * opts.pl_decay)
            stats["pl_penalty"] = red["pl_penalty"] / n_pl
            stats["pl_length"] = pl_length
            stats["pl_mean"] = tf.identity(self.pl_mean)

        # D main.
        z, mix_z, cut = self._latents(B, "D_main")
        aug_fake, aug_seed = self._aug_randoms(B, "D_main", 0)
        aug_real, _ = self._aug_randoms(B, "D_main", 1)
        out = self._run(
            self._d_main,
            (
                reals,
                labels,
                self._injected("D_main", "c", labels),
                z,
                mix_z,
                cut,
                aug_fake,
                aug_real,
                aug_seed,
                p,
                self._noise_seed("D_main"),
            ),
        )
        skipped_D = self._first(out.pop("skipped_D"))
        self._captured(out, stats, "D_main")
        self._update_w_avg(self._reduce({"w": out.pop("w_sum")})["w"], B)
        red = self._reduce(out)
        stats["loss_D"] = red["loss_D"] / B
        stats["scores_real"] = red["scores_real"] / B
        stats["scores_fake"] = red["scores_fake"] / B
        signs, count = red["signs_real"], float(B)

        # D R1 regularization.
        if do_dreg:
            gamma = self.gamma.tf_value(kimg)
            aug_u, aug_seed = self._aug_randoms(B, "D_reg")
            out = self._run(self._d_reg, (reals, labels, aug_u, aug_seed, p, gamma))
            skipped_D += self._first(out.pop("skipped_D"))
            self._captured(out, stats, "D_reg")
            red = self._reduce(out)
            stats["r1_penalty"] = red["r1_penalty"] / B
            signs += red["signs_real_reg"]
            count += float(B)
            stats["gamma"] = gamma

        # G_ema.
        ema_nimg = opts.ema_kimg * 1000.0
        nimg = tf.cast(self.cur_nimg, tf.float32)
        if opts.ema_rampup:
            ema_nimg = tf.minimum(ema_nimg, nimg * opts.ema_rampup)
        ema_beta = tf.pow(0.5, B / tf.maximum(tf.cast(ema_nimg, tf.float32), 1e-8))
        for g, e in zip(self.G.variables, self.G_ema.variables):
            if g.trainable:
                e.assign(g + (e - g) * ema_beta)
            else:
                e.assign(g)

        # Counters and ADA.
        self.skipped_G.assign_add(tf.cast(skipped_G, tf.int64))
        self.skipped_D.assign_add(tf.cast(skipped_D, tf.int64))
        self.cur_nimg.assign_add(B)
        self.batch_idx.assign_add(1)
        self.ada_sign_sum.assign_add(signs)
        self.ada_sign_count.assign_add(count)
        if self.opts.aug == "ada" and self.augment_pipe is not None:
            rt = self.ada_sign_sum / tf.maximum(self.ada_sign_count, 1.0)

            def adjust_p():
                adjust = tf.sign(rt - opts.target) * (B * opts.ada_interval) / (opts.ada_kimg * 1000.0)
                self.augment_p.assign(tf.clip_by_value(self.augment_p + adjust, 0.0, 1.0))
                self.ada_sign_sum.assign(0.0)
                self.ada_sign_count.assign(0.0)
                return tf.constant(True)

            tf.cond(do_ada, adjust_p, lambda: tf.constant(False))
            stats["ada_rt"] = rt
        stats["G_lr"] = self.glr.tf_value(kimg)
        stats["D_lr"] = self.dlr.tf_value(kimg)
        stats["augment_p"] = tf.identity(self.augment_p)
        stats["skipped"] = tf.cast(skipped_G + skipped_D, tf.float32)
        return stats

    def phase_flags(self, batch_idx):
        """`(do_greg, do_dreg, do_ada)` for the step at `batch_idx` (the official schedule)."""
        o = self.opts
        do_greg = self.do_pl and batch_idx % o.g_reg_interval == 0
        do_dreg = self.do_r1 and batch_idx % o.d_reg_interval == 0
        do_ada = o.aug == "ada" and self.augment_pipe is not None and (batch_idx + 1) % o.ada_interval == 0
        return bool(do_greg), bool(do_dreg), bool(do_ada)

    def train_step(self, reals, labels, draws=None, capture=False):
        """Trains on one global batch (this worker's share: `reals`, `labels`); returns stats.

        Args:
          draws: None, or the step's random draws, injected (`{phase: {name: array}}`, see
            `sg2tf.training.replay`; one worker). Phases the schedule runs must be present.
          capture: also return each phase's gradients, `stats["grads/<phase>"]` =
            `{variable path: array}` (summed over replicas and rounds, before the update).
        """
        do_greg, do_dreg, do_ada = self.phase_flags(int(self.batch_idx.numpy()))
        flags = (do_greg, do_dreg)
        if draws is not None or capture:
            return self._replay_step(reals, labels, draws or {}, capture, flags, do_ada)
        fn = self._step_fns.get(flags)
        if fn is None:
            fn = tf.function(
                lambda r, lab, a, f=flags: self._step(r, lab, *f, a), autograph=False, jit_compile=self.opts.xla or None
            )
            self._step_fns[flags] = fn
        if self.opts.xla:
            # The compiled custom ops have no XLA kernels: XLA compiles the reference ops,
            # in their XLA form (no depthwise convolutions). Tracing happens inside this
            # call, in this thread.
            with dispatch.xla_scope():
                return fn(reals, labels, tf.constant(do_ada))
        return fn(reals, labels, tf.constant(do_ada))

    def _replay_step(self, reals, labels, draws, capture, flags, do_ada):
        needed = ["G_main", "D_main"] + (["G_reg"] if flags[0] else []) + (["D_reg"] if flags[1] else [])
        if draws and any(p not in draws for p in needed):
            raise ValueError(
                f"train_step: draws lack phases {[p for p in needed if p not in draws]} (this step runs {needed})"
            )
        unknown = sorted(set(draws) - set(needed))
        if unknown:
            raise ValueError(f"train_step: draws for phases {unknown} that this step does not run ({needed})")
        key = (flags, capture)
        fn = self._replay_fns.get(key)
        if fn is None:

            def step(reals_, labels_, do_ada_, draws_, f=flags, c=capture):
                self._draws, self._capture = draws_, c
                try:
                    return self._step(reals_, labels_, *f, do_ada_)
                finally:
                    self._draws, self._capture = None, False

            fn = tf.function(step, autograph=False)
            self._replay_fns[key] = fn
        draws = tf.nest.map_structure(tf.convert_to_tensor, draws)
        stats = fn(reals, labels, tf.constant(do_ada), draws)
        for phase, variables in (
            ("G_main", self.G_vars),
            ("G_reg", self.G_vars),
            ("D_main", self.D_vars),
            ("D_reg", self.D_vars),
        ):
            if "grads/" + phase in stats:
                stats["grads/" + phase] = {v.path: g.numpy() for v, g in zip(variables, stats["grads/" + phase])}
        return stats
