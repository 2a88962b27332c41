"""Setting up a training run: strategy, devices, networks, the trainer."""

import json
import os

import keras
import numpy as np
import tensorflow as tf

from sg2tf.augment import AugmentPipe
from sg2tf.errors import UserError
from sg2tf.networks import Discriminator, Generator
from sg2tf.training.trainer import Trainer


class TrainingError(UserError):
    """A user error (bad flags, data, resume source): one line, exit code 2."""


def configure_cpu_devices(n):
    """Splits the CPU into n logical devices (must run before TensorFlow initialises)."""

    if n and n > 1:
        cpus = tf.config.list_physical_devices("CPU")
        try:
            tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * n)
        except RuntimeError:
            pass  # already initialised (tests that configured devices themselves)


_strategy_count = 0


def mirrored_strategy(devices=None):
    """A MirroredStrategy whose collectives cannot collide with another one's in this process.

    TensorFlow gives every MirroredStrategy the same collective group key (1) and instance
    keys counting from the same number; the runtime caches a collective's parameters by
    (group, instance) key, so a second strategy over the same devices in one process
    reuses the first one's cached shapes ("Collective ops is aborted by: Shape mismatch").
    Each strategy made here gets its own range of group keys.
    """

    global _strategy_count
    cls = tf.distribute.MirroredStrategy
    saved = cls._collective_key_base
    _strategy_count += 1
    cls._collective_key_base = saved + 100000 * _strategy_count
    try:
        return cls(devices)
    finally:
        cls._collective_key_base = saved


def make_strategy(name):
    """`(strategy, num_workers, worker_id, is_chief)` for --strategy."""

    if name == "multi_worker":
        # Before anything initialises TensorFlow's context (listing devices does):
        # collective ops must be configured at program startup.
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        if not tf_config.get("cluster"):
            raise TrainingError("--strategy=multi_worker needs TF_CONFIG with a cluster spec")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        workers = len(tf_config["cluster"].get("worker", [])) + len(tf_config["cluster"].get("chief", []))
        task = tf_config.get("task", {})
        after_chief = task.get("type") == "worker" and "chief" in tf_config["cluster"]
        worker_id = task.get("index", 0) + (1 if after_chief else 0)
        is_chief = (task.get("type") == "chief") or (task.get("type") == "worker" and worker_id == 0)
        return strategy, max(workers, 1), worker_id, is_chief
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    # auto mirrors over several GPUs, or over the logical CPUs that --cpu_devices made (the
    # reason to ask for them) when there is no GPU.
    if name == "mirrored" or (name == "auto" and (len(gpus) > 1 or (not gpus and len(cpus) > 1))):
        devices = [d.name for d in gpus] or [d.name for d in cpus]
        return mirrored_strategy(devices), 1, 0, True
    if name == "one_device" and not gpus and len(cpus) > 1:
        raise TrainingError(
            f"--strategy=one_device: --cpu_devices={len(cpus)} splits the CPU for MirroredStrategy; "
            "use --strategy=auto or mirrored, or leave --cpu_devices out"
        )
    device = gpus[0].name if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device), 1, 0, True


def build_networks(opts):
    """`(G, D, G_ema)` for `opts` (a `TrainingOptions`); G_ema starts as a copy of G.

    Call inside the strategy's scope, after seeding (`keras.utils.set_random_seed`).
    """

    g_kwargs, d_kwargs = opts.network_kwargs()
    if opts.precision == "bfloat16":
        # The reduced-precision blocks' type is part of the networks' configs, so snapshots
        # and checkpoints come back in bfloat16.
        g_kwargs["synthesis_kwargs"] = {**g_kwargs["synthesis_kwargs"], "low_precision": "bfloat16"}
        d_kwargs = {**d_kwargs, "low_precision": "bfloat16"}
    G = Generator(**g_kwargs, name="generator")
    D = Discriminator(**d_kwargs, name="discriminator")
    G_ema = Generator.from_config(G.get_config())
    for e, g in zip(G_ema.variables, G.variables):
        e.assign(g)
    return G, D, G_ema


def network_sizes(opts):
    """What `--dry_run` reports of the networks `opts` builds: `{"G_params", "D_params",
    "G_channels"}`, the trainable parameter counts of G and D (as the official training loop
    prints them) and G's channels per resolution (`{"4": 512, ..., "1024": 32}`)."""

    g_kwargs, d_kwargs = opts.network_kwargs()
    G = Generator(**g_kwargs, name="generator")
    D = Discriminator(**d_kwargs, name="discriminator")

    def count(net):
        return int(sum(int(np.prod(v.shape)) for v in net.trainable_variables))

    channels = {str(block.resolution): int(block.out_channels) for block in G.synthesis.blocks}
    return {"G_params": count(G), "D_params": count(D), "G_channels": channels}


_FROM_OPTIONS = object()


def build_trainer(opts, strategy=None, num_workers=1, augment_pipe=_FROM_OPTIONS, labels=None):
    """The `Trainer` of `opts`: seeds Keras with `opts.seed`, builds the networks in the
    strategy's scope and the augmentation pipeline of `opts` (none with `--aug=noaug`).

    The one set-up of sg2tf-train, sg2tf-bench train and the tests.

    Args:
      opts: a `TrainingOptions`.
      strategy: a tf.distribute strategy (default: one CPU device).
      num_workers: hosts (input pipelines) taking part.
      augment_pipe: an `AugmentPipe` or None instead of the one `opts` names.
      labels: the dataset's labels, which generated images' labels are drawn from (`Trainer`).
    """

    strategy = strategy or tf.distribute.OneDeviceStrategy("/cpu:0")
    keras.utils.set_random_seed(opts.seed)
    with strategy.scope():
        G, D, G_ema = build_networks(opts)
    if augment_pipe is _FROM_OPTIONS:
        augment_pipe = AugmentPipe(opts.augpipe) if opts.aug != "noaug" else None
    return Trainer(opts, strategy, G, D, G_ema, augment_pipe, num_workers=num_workers, labels=labels)
