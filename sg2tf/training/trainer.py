"""The training state and the StyleGAN2 training step on tf.distribute.

One call of `Trainer.train_step` trains on one global batch, in the phases of the
official code: G main, G path-length regularization (every `g_reg_interval` steps),
D main, D R1 regularization (every `d_reg_interval` steps), then G_ema, the counters and
the ADA probability. The regularization phases are separate optimizer steps with the
lazy-regularization correction of learning rate and betas.

A phase is: its random inputs for the global batch from a `Draws` (`sg2tf.training.draws`),
then on every replica, per `batch_gpu`-sized accumulation round, the loss's
`accumulate(phase, inputs)` (`sg2tf.losses.StyleGAN2Loss`: the loss terms and their
gradients), then one optimizer update unless any replica's gradients are non-finite.

Data layout. The step receives this worker's share of the global batch. Every replica
takes its own consecutive slice, and splits it into `batch_gpu`-sized gradient
accumulation rounds (sample groups). Per-sample random numbers are drawn for the whole
global batch from one checkpointed `tf.random.Generator` and sliced the same way; per-group
ones (G's noise, path-length directions, style mixing's cutoff) from per-phase seeds folded
with the group.

Replay. `train_step(reals, labels, draws=RecordedDraws(...), capture=True)` takes every
random input of the step from a recording and returns each phase's gradients: how sg2tf is
compared with the official training loop step for step (`sg2tf.training.replay`).

Statistics are returned as means over the global batch (cross-replica sums divided by it).
"""

import keras
import numpy as np
import tensorflow as tf

from sg2tf import losses
from sg2tf.ops import dispatch
from sg2tf.training import schedules
from sg2tf.training.draws import Group, RandomDraws
from sg2tf.training.freeze import freeze_filter_d, freeze_filter_g

# Float16's dynamic loss scale: its start (the originals' fixed scale) and the clean steps per
# doubling (1 / TF1 tflib Optimizer's loss_scaling_inc of 0.0005 in log2).
FP16_INITIAL_LOSS_SCALE = 1.0
FP16_LOSS_SCALE_GROWTH_STEPS = 2000

# What each phase trains, and how many times it augments images (fakes, reals).
PHASE_NETWORK = {"G_main": "G", "G_reg": "G", "D_main": "D", "D_reg": "D"}
AUGMENT_CALLS = {"G_main": 1, "G_reg": 0, "D_main": 2, "D_reg": 1}


def all_reduce_sum(values):
    """Each tensor of `values` summed over all replicas, in replica context (no gradient).

    `ReplicaContext.all_reduce` makes its result differentiable with `tf.custom_gradient`, which
    in a traced function registers a closure holding the traced graph in TensorFlow's global
    gradient registry for good: every training step traced in a process stayed in memory
    (~400 MB for each tiny trainer built in one process: notebooks, the test suite). This is
    the same reduction through `merge_call`, which registers nothing.
    """

    def reduce(strategy, *per_replica):
        return strategy.extended.batch_reduce_to(tf.distribute.ReduceOp.SUM, [(v, v) for v in per_replica])

    return list(tf.distribute.get_replica_context().merge_call(reduce, args=tuple(values)))


class _GradientSumWithoutLeak:
    """Mixin for Keras optimizers: their replica-sum of the gradients via `all_reduce_sum`
    (Keras's calls `ReplicaContext.all_reduce`, which keeps every traced step alive)."""

    def _all_reduce_sum_gradients(self, grads_and_vars):
        pairs = list(grads_and_vars)
        present = [i for i, (g, _) in enumerate(pairs) if g is not None]
        if not present or tf.distribute.get_replica_context() is None:
            return pairs
        summed = all_reduce_sum([pairs[i][0] for i in present])
        for i, g in zip(present, summed):
            pairs[i] = (g, pairs[i][1])
        return pairs


def _nonfinite_count(grads):
    return tf.add_n(
        [tf.reduce_sum(tf.cast(~tf.math.is_finite(tf.cast(g, tf.float32)), tf.int32)) for g in grads if g is not None]
        or [tf.constant(0)]
    )


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


class TorchAdam(_GradientSumWithoutLeak, keras.optimizers.Adam):
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


class Tf1Adam(_GradientSumWithoutLeak, keras.optimizers.Adam):
    """Keras's Adam (epsilon where TF1's `AdamOptimizer` puts it), summing gradients over
    replicas as `TorchAdam` does."""


def make_optimizer(lr_variable, reg_interval, fp16, variant="torch"):
    """Adam(0, 0.99, 1e-8) with the lazy-regularization correction, wrapped for loss scaling.

    `variant`: where epsilon goes (`sg2tf.constants.ADAM_VARIANTS`): "torch" (`TorchAdam`)
    or "tf1" (Keras's Adam, which places it as TF1's `AdamOptimizer`).

    The learning rate is read from `lr_variable` at every update (the training step
    assigns it from its schedule, already multiplied by the correction ratio).
    Float16 uses dynamic loss scaling from 1; float32 and bfloat16 (float32's exponent range)
    none: their wrapper only skips non-finite steps.
    """
    ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    adam_class = {"torch": TorchAdam, "tf1": Tf1Adam}[variant]
    adam = adam_class(
        learning_rate=lambda: lr_variable.read_value(), beta_1=0.0**ratio, beta_2=0.99**ratio, epsilon=1e-8
    )
    if fp16:
        # Neither original scales the loss of its float16 layers (stylegan2-ada's TF loop leaves
        # tflib Optimizer's use_loss_scaling False; stylegan2-ada-pytorch has no GradScaler):
        # start where they stay, at 1 (Keras's 2^15 overflowed the first steps). Grow and shrink
        # by TF1's rule (tflib/optimizer.py: log2 scale +0.0005 per clean step, -1 on overflow).
        return (
            keras.optimizers.LossScaleOptimizer(
                adam, initial_scale=FP16_INITIAL_LOSS_SCALE, dynamic_growth_steps=FP16_LOSS_SCALE_GROWTH_STEPS
            ),
            ratio,
        )
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
      labels: the dataset's labels `[N, c_dim]`, which the generated images' labels are drawn
        from (required for a conditional G, unless every step is given its draws).
    """

    def __init__(self, opts, strategy, G, D, G_ema, augment_pipe=None, num_workers=1, labels=None):
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
            self.loss = losses.StyleGAN2Loss(
                G,
                D,
                batch=self.batch,
                pl_samples=self.pl_batch * self.rounds * self.num_replicas,
                style_mixing_prob=opts.style_mixing_prob,
                pl_weight=opts.pl_weight,
                pl_decay=opts.pl_decay,
                g_reg_interval=opts.g_reg_interval,
                d_reg_interval=opts.d_reg_interval,
                noise_mode=opts.noise_mode,
            )
            self.pl_mean = self.loss.pl_mean
            self.augment_p = tf.Variable(
                float(opts.p) if opts.aug != "noaug" else 0.0, trainable=False, name="augment_p"
            )
            self.ada_sign_sum = tf.Variable(0.0, trainable=False, name="ada_sign_sum")
            self.ada_sign_count = tf.Variable(0.0, trainable=False, name="ada_sign_count")
            self.skipped_G = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_G")
            self.skipped_D = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_D")
        # Drawn in cross-replica context only: one stream for the whole run.
        self.rng = tf.random.Generator.from_seed(int(opts.seed))
        self.draws = None
        if labels is not None or not G.c_dim:
            uniforms = augment_pipe.num_uniforms if augment_pipe is not None else 0
            self.draws = RandomDraws(self.rng, G.z_dim, G.num_ws, self.batch_gpu, labels, G.c_dim, uniforms)
        self._step_fns = {}

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

    # ---------------------------------------------------------------- one phase, on a replica
    def _slice(self, x):
        """This replica's consecutive slice of a worker-level tensor."""
        ctx = tf.distribute.get_replica_context()
        local = ctx.replica_id_in_sync_group % self.local_replicas
        return tf.nest.map_structure(lambda t: t[local * self.per_replica : (local + 1) * self.per_replica], x)

    def _round_inputs(self, phase, draws, phase_draws, r, reals, labels, p, gamma):
        """The `RoundInputs` of accumulation round `r` on this replica."""
        rid = tf.distribute.get_replica_context().replica_id_in_sync_group
        size = self.pl_batch if phase == "G_reg" else self.batch_gpu
        group = Group(index=rid * self.rounds + r, start=rid * self.per_replica + r * self.batch_gpu, size=size)
        (h, w), ch = self.G.img_shape, self.G.img_channels  # [h, w]: non-square G too
        return losses.RoundInputs(
            gen=draws.generator_inputs(phase_draws, group),
            real_img=reals[r * self.batch_gpu : (r + 1) * self.batch_gpu],
            real_c=labels[r * self.batch_gpu : (r + 1) * self.batch_gpu],
            augment=draws.augment(phase_draws, group, self.augment_pipe, p),
            pl_directions=draws.pl_directions(phase_draws, group, [size, h, w, ch]) if phase == "G_reg" else None,
            r1_gamma=gamma,
        )

    def _replica_phase(self, phase, draws, capture, phase_draws, reals, labels, p, gamma):
        """One phase on this replica: the gradients of every round, summed, then one update
        unless any replica's are non-finite. Returns the statistics' sums over the rounds and
        `skipped` (1.0 if the update was skipped)."""
        opt, variables = (self.opt_G, self.G_vars) if PHASE_NETWORK[phase] == "G" else (self.opt_D, self.D_vars)
        reals, labels = self._slice(reals), self._slice(labels)
        grads, sums = None, {}
        for r in range(self.rounds):
            inputs = self._round_inputs(phase, draws, phase_draws, r, reals, labels, p, gamma)
            g, values = self.loss.accumulate(phase, inputs, variables, opt.scale_loss)
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
            sums = {k: v + sums[k] if k in sums else v for k, v in values.items()}
        if capture:
            sums["grads"] = [g / opt.scale_loss(tf.constant(1.0)) for g in grads]
        sums["skipped"] = self._apply(opt, grads, variables)
        return sums

    def _apply(self, opt, grads, variables):
        """Applies summed local grads unless any replica's are non-finite; returns 1 if skipped."""
        (bad,) = all_reduce_sum([_nonfinite_count(grads)])
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

    # ---------------------------------------------------------------- the step
    def _run_phase(self, phase, draws, capture, args):
        """strategy.run of a phase, ordered after everything of the previous phase: replicas must
        issue their collectives in the same order, and independent phases could interleave.
        Returns the statistics summed over replicas, and the skipped flag."""
        with tf.control_dependencies(self._deps):
            args = tf.nest.map_structure(lambda t: t if t is None else tf.identity(t), tuple(args))
        fn = lambda *a: self._replica_phase(phase, draws, capture, *a)  # noqa: E731
        out = self.strategy.run(fn, args=args)
        self._deps = [t for v in tf.nest.flatten(out) for t in self.strategy.experimental_local_results(v)]
        skipped = self.strategy.experimental_local_results(out.pop("skipped"))[0]
        grads = out.pop("grads", None)
        sums = {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}
        if grads is not None:
            sums["grads"] = [self.strategy.reduce(tf.distribute.ReduceOp.SUM, g, axis=None) for g in grads]
        return sums, skipped

    def _update_w_avg(self, w_sum, n):
        """Moves G's tracked w average towards the mean w of a phase's `n` generated samples
        (as the original's mapping does in every training-mode call but the mixing one)."""
        beta = self.G.mapping.w_avg_beta
        if beta is not None:
            batch_w = w_sum / n
            self.G.mapping.w_avg.assign(batch_w + (self.G.mapping.w_avg - batch_w) * beta)

    def phases(self, do_greg, do_dreg):
        """The phases of a step, in the official order."""
        return ["G_main"] + ["G_reg"] * do_greg + ["D_main"] + ["D_reg"] * do_dreg

    def _step(self, reals, labels, do_greg, do_dreg, do_ada, draws, capture):
        opts, B = self.opts, self.batch
        self._deps = []
        kimg = tf.cast(self.cur_nimg, tf.float32) / 1000.0
        stats = {}
        p = tf.identity(self.augment_p)
        gamma = self.gamma.tf_value(kimg)
        self.G_lr.assign(self.glr.tf_value(kimg) * self.G_ratio)
        self.D_lr.assign(self.dlr.tf_value(kimg) * self.D_ratio)
        (h, w), ch = self.G.img_shape, self.G.img_channels  # [h, w]: non-square G too
        skipped = {"G": 0.0, "D": 0.0}
        signs, count = 0.0, 0.0

        for phase in self.phases(do_greg, do_dreg):
            phase_draws = draws.phase(
                phase,
                B,
                pl_shape=[h, w, ch] if phase == "G_reg" else None,
                aug_calls=AUGMENT_CALLS[phase] if self.augment_pipe is not None else 0,
            )
            sums, phase_skipped = self._run_phase(phase, draws, capture, (phase_draws, reals, labels, p, gamma))
            skipped[PHASE_NETWORK[phase]] += phase_skipped
            if "grads" in sums:
                stats["grads/" + phase] = sums.pop("grads")
            n = self.loss.pl_samples if phase == "G_reg" else B
            if "w_sum" in sums:
                self._update_w_avg(sums.pop("w_sum"), float(n))
            for key in [k for k in sums if k.startswith("signs_real")]:  # ADA's overfitting heuristic
                signs += sums.pop(key)
                count += float(n)
            stats.update({k: v / n for k, v in sums.items()})
            if phase == "G_reg":
                self.loss.update_pl_mean(stats["pl_length"])
                stats["pl_mean"] = tf.identity(self.pl_mean)
            if phase == "D_reg":
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
        self.skipped_G.assign_add(tf.cast(skipped["G"], tf.int64))
        self.skipped_D.assign_add(tf.cast(skipped["D"], tf.int64))
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
        stats["skipped"] = tf.cast(skipped["G"] + skipped["D"], tf.float32)
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
          draws: where the step's random inputs come from (`sg2tf.training.draws.Draws`);
            None: the trainer's own `RandomDraws`. A `RecordedDraws` replays a recording
            (one worker).
          capture: also return each phase's gradients, `stats["grads/<phase>"]` =
            `{variable path: array}` (summed over replicas and rounds, before the update).
        """
        do_greg, do_dreg, do_ada = self.phase_flags(int(self.batch_idx.numpy()))
        draws = draws or self.draws
        if draws is None:
            raise ValueError("Trainer: a conditional G draws its images' labels from the dataset's: pass labels=")
        draws.check_phases(self.phases(do_greg, do_dreg))
        tensors = draws.tensors()
        key = (do_greg, do_dreg, capture, draws if tensors is None else type(draws))
        fn = self._step_fns.get(key)
        if fn is None:

            def step(reals_, labels_, do_ada_, tensors_, flags=(do_greg, do_dreg), source=draws):
                return self._step(reals_, labels_, *flags, do_ada_, source.bind(tensors_), capture)

            fn = tf.function(step, autograph=False, jit_compile=self.opts.xla or None)
            self._step_fns[key] = fn
        if self.opts.xla:
            # The compiled custom ops have no XLA kernels: XLA compiles the reference ops,
            # in their XLA form (no depthwise convolutions). Tracing happens inside this
            # call, in this thread.
            with dispatch.xla_scope():
                stats = fn(reals, labels, tf.constant(do_ada), tensors)
        else:
            stats = fn(reals, labels, tf.constant(do_ada), tensors)
        for phase in self.phases(do_greg, do_dreg):
            if "grads/" + phase in stats:
                variables = self.G_vars if PHASE_NETWORK[phase] == "G" else self.D_vars
                stats["grads/" + phase] = {v.path: g.numpy() for v, g in zip(variables, stats["grads/" + phase])}
        return stats
