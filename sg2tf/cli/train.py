"""sg2tf-train: train StyleGAN2 / StyleGAN2-ADA on a TFRecord dataset.

  sg2tf-train --data=datasets/shapes32 --outdir=runs --cfg=tiny --kimg=100 --snap=10
  sg2tf-train --resume=latest --outdir=runs          # continue the newest run exactly

Phases of `train`: resolve options -> dry run -> run directory -> strategy -> data ->
networks -> resume -> loop (ticks, snapshots) -> final snapshot. See docs/training.md.
"""

import os

from absl import app, flags

from sg2tf.cli import common  # noqa: F401 (quiet TensorFlow before it loads)
from sg2tf.training.options import DEFAULTS

FLAGS = flags.FLAGS
# Options that may be changed when continuing a run from its checkpoint.
RESUME_OVERRIDABLE = ("kimg", "tick_kimg", "snap", "keep_checkpoints", "cpu_devices", "strategy",
                      "outdir", "xla", "dry_run", "metrics", "metrics_num_gen", "inception",
                      "vgg16", "lpips")
# Flags that, left at their defaults, keep the values saved with a resumed run.
KEEP_SAVED_WHEN_DEFAULT = ("kimg", "tick_kimg", "snap", "keep_checkpoints", "strategy", "xla",
                           "metrics", "metrics_num_gen")


from sg2tf.training.setup import (TrainingError, build_networks, configure_cpu_devices as _configure_cpu_devices,
                                  make_strategy)


def fakes_grid(G, opts, z, c):
    """uint8 grid: the fixed seeds at psi 1 (top) and psi 0.7 (bottom), const noise."""
    import numpy as np

    from sg2tf.utils import images as image_utils

    rows = []
    for psi in (1.0, 0.7):
        imgs = []
        for i in range(0, len(z), 8):
            imgs.append(G.generate(z[i:i + 8], None if c is None else c[i:i + 8],
                                   truncation_psi=psi, noise_mode="const").numpy())
        rows.append(np.concatenate(imgs))
    images = image_utils.to_uint8(np.concatenate(rows))
    return image_utils.make_grid(images, cols=max(int(np.ceil(np.sqrt(len(z)))), 1))


def train(raw):
    """Runs training with the given option values (`{flag: value}`; None = default).

    Returns the run directory (None for a dry run). Raises TrainingError for user errors.
    """
    import json
    import time

    import numpy as np

    from sg2tf.training import options as options_lib

    raw = {k: v for k, v in raw.items() if v is not None}
    _configure_cpu_devices(raw.get("cpu_devices", 0))

    import tensorflow as tf

    import sg2tf
    from sg2tf import data as data_lib
    from sg2tf.augment import AugmentPipe
    from sg2tf.training import checkpoints, stats as stats_lib, transfer
    from sg2tf.training.trainer import Trainer
    from sg2tf.utils import images as image_utils
    from sg2tf.utils.seeds import z_from_seeds

    # ---- Resolve options (before any work). --------------------------------------------
    resume_kind, resume_path, saved = None, None, None
    if raw.get("resume"):
        try:
            resume_kind, resume_path = checkpoints.resolve_resume(raw["resume"], raw.get("outdir"))
        except (ValueError, OSError) as e:
            raise TrainingError(str(e)) from None
    if resume_kind == "checkpoint":
        run_dir = os.path.dirname(os.path.dirname(resume_path))
        with open(os.path.join(run_dir, "training_options.json")) as f:
            saved = json.load(f)
        base = {k: saved[k] for k in DEFAULTS if k in saved and k != "resume"}
        base.update({k: raw[k] for k in RESUME_OVERRIDABLE if k in raw})
        raw = dict(base, resume=raw["resume"])
        raw["outdir"] = raw.get("outdir") or os.path.dirname(run_dir)
    try:
        strategy, num_workers, worker_id, is_chief = make_strategy(raw.get("strategy", "auto"))
    except ValueError as e:
        raise TrainingError(str(e)) from None
    replicas = strategy.num_replicas_in_sync
    info = None
    if raw.get("data"):
        try:
            info = data_lib.read_info(raw["data"])
        except (data_lib.DatasetError, OSError) as e:
            raise TrainingError(f"--data: {e}") from None
    elif not raw.get("dry_run"):
        raise TrainingError("--data is required")
    try:
        opts = options_lib.resolve(raw, info, replicas, has_gpu=bool(tf.config.list_logical_devices("GPU")))
    except ValueError as e:
        raise TrainingError(str(e)) from None
    opts["num_workers"] = num_workers
    metric_files = {}
    if opts["metrics"] and is_chief:
        try:  # every feature network file is there, before any work
            metric_files = options_lib.metric_feature_files(opts)
        except ValueError as e:
            raise TrainingError(str(e)) from None
    source = None
    if resume_kind == "network":
        try:
            source = sg2tf.load_network(resume_path)
        except Exception as e:  # noqa: BLE001 (any loader failure is the user's file)
            raise TrainingError(f"--resume={resume_path}: cannot load ({type(e).__name__}: {e})") from None

    # ---- Dry run. ----------------------------------------------------------------------
    if opts["dry_run"]:
        print(options_lib.to_json(opts))
        return None

    # ---- Run directory. ----------------------------------------------------------------
    if resume_kind == "checkpoint":
        run_dir = os.path.dirname(os.path.dirname(resume_path))
    elif is_chief:
        run_dir = checkpoints.next_run_dir(opts["outdir"], options_lib.describe(opts))
    else:
        run_dir = None  # other workers write nothing (their checkpoint copies go to a temp dir)
    if is_chief and resume_kind != "checkpoint":
        with open(os.path.join(run_dir, "training_options.json"), "w") as f:
            f.write(options_lib.to_json(opts))
    log = stats_lib.Logger(run_dir, enabled=is_chief)
    if not is_chief:
        run_dir = run_dir or opts["outdir"]
    log.print(f"sg2tf-train: run directory {run_dir}")
    log.print(f"strategy {type(strategy).__name__}: {replicas} replicas, {num_workers} workers; "
              f"batch {opts['batch']} = {replicas} x {opts['batch_gpu']} x {opts['accumulation_rounds']} rounds")

    # ---- Data. -------------------------------------------------------------------------
    import keras

    # The global seed also enters tf.data's shuffle order: set it before building the
    # pipeline, so a run depends only on its options (not on what ran before in-process).
    keras.utils.set_random_seed(opts["seed"])
    # Every worker reads the same stream of global batches and takes its own slice: the
    # iterator state is then the same on every worker (the chief's checkpoint restores all
    # of them exactly) and the data order does not depend on the number of workers.
    data_impl = None
    data_reader = data_lib.record_reader(opts["data"], opts["resolution"])
    if resume_kind == "checkpoint":
        saved_reader = checkpoints.read_metadata(resume_path).get("data_reader")
        # The iterator state restores only into a dataset read the same way.
        if saved_reader == "stream" and data_reader == "compiled":
            data_impl, data_reader = "ref", "stream"
            log.print("data: the checkpoint was written with the stock TFRecord reader; reading the same way")
        elif saved_reader == "compiled" and data_reader == "stream":
            raise TrainingError(
                f"--resume={resume_path}: this checkpoint's data position was saved by the compiled "
                "record reader, which this process cannot use (no op library, or SG2TF_OPS=ref): "
                "build the ops (scripts/build_ops.sh) and resume again, or start a new run from "
                "the run's network snapshot")
    dataset = data_lib.make_dataset(
        opts["data"], opts["resolution"], opts["batch"], mirror=opts["mirror"],
        seed=opts["seed"], labels=opts["c_dim"] > 0,
        max_images=opts["max_images"], shuffle_buffer=opts["shuffle_buffer"], impl=data_impl)
    data_iter = iter(dataset)
    worker_batch = opts["batch"] // num_workers

    def next_batch():
        reals, labels = next(data_iter)
        if num_workers == 1:
            return reals, labels
        lo = worker_id * worker_batch
        return reals[lo:lo + worker_batch], labels[lo:lo + worker_batch]

    # ---- Networks. ---------------------------------------------------------------------
    keras.utils.set_random_seed(opts["seed"])
    with strategy.scope():
        G, D, G_ema = build_networks(opts)
    if source is not None:
        for name, dst, src in (("G", G, source.G), ("D", D, source.D),
                               ("G_ema", G_ema, source.G_ema or source.G)):
            if src is None:
                log.print(f"{name}: not in {resume_path}; kept initial weights")
                continue
            for line in transfer.report(name, transfer.copy_matching(src, dst)):
                log.print(line)
    augment_pipe = AugmentPipe(opts["augpipe"]) if opts["aug"] != "noaug" else None
    trainer = Trainer(opts, strategy, G, D, G_ema, augment_pipe, num_workers=num_workers)
    if trainer.frozen:
        log.print(f"frozen variables: {len(trainer.frozen)} ({opts['freezed']} D layers, G below {opts['freeze_g']})")

    # ---- Resume. -----------------------------------------------------------------------
    objects = dict(trainer.checkpoint_objects(), data=data_iter)
    manager = checkpoints.CheckpointManager(run_dir, objects, keep=opts["keep_checkpoints"], is_chief=is_chief)
    if resume_kind == "checkpoint":
        meta = manager.restore(resume_path)
        log.print(f"resumed from {resume_path} at {meta['nimg'] / 1000:.3f} kimg, tick {meta['tick']}")
        log.truncate_stats(meta["tick"])

    # ---- Loop. -------------------------------------------------------------------------
    grid_z = z_from_seeds(range(opts["grid_seeds"]), G.z_dim)
    grid_c = None
    if opts["c_dim"]:
        grid_c = np.eye(opts["c_dim"], dtype=np.float32)[np.arange(opts["grid_seeds"]) % opts["c_dim"]]
    if is_chief and resume_kind != "checkpoint":
        image_utils.atomic_save_png(os.path.join(run_dir, "reals.png"), image_utils.make_grid(
            image_utils.to_uint8(next(iter(data_lib.make_dataset(
                opts["data"], opts["resolution"], min(opts["grid_seeds"], info.count),
                shuffle_buffer=0, repeat=False, labels=False)))[0].numpy())))
        image_utils.atomic_save_png(os.path.join(run_dir, "fakes_init.png"), fakes_grid(G_ema, opts, grid_z, grid_c))

    total_nimg = int(round(opts["kimg"] * 1000))
    tick_nimg = int(round(opts["tick_kimg"] * 1000))
    cur_nimg = int(trainer.cur_nimg.numpy())
    cur_tick = int(trainer.cur_tick.numpy())
    tick_start_nimg = cur_nimg
    tick_stats = stats_lib.TickStats()
    timer = stats_lib.Timer()
    tick_start_time = time.time()
    log.print(f"training for {opts['kimg']:g} kimg from {cur_nimg / 1000:g} kimg")

    def publish(final):
        snap_kimg = cur_nimg // 1000
        meta = dict(tick=cur_tick, kimg=cur_nimg / 1000, data_reader=data_reader)
        manager.save(cur_nimg, meta)
        if is_chief:
            snapshot = f"network-snapshot-{snap_kimg:06d}"
            sg2tf.io.snapshot.save_snapshot(
                os.path.join(run_dir, snapshot), {"G": G, "D": D, "G_ema": G_ema},
                dict(meta, augment_p=float(trainer.augment_p.numpy()), options=opts))
            image_utils.atomic_save_png(os.path.join(run_dir, f"fakes{snap_kimg:06d}.png"),
                                        fakes_grid(G_ema, opts, grid_z, grid_c))
            if opts["metrics"]:
                snapshot_metrics(G_ema, opts, info, metric_files, run_dir, snapshot,
                                 cur_nimg / 1000, log)

    import sg2tf.io.snapshot  # noqa: F401
    while cur_nimg < total_nimg:
        reals, labels = next_batch()
        tick_stats.add(trainer.train_step(reals, labels))
        cur_nimg += opts["batch"]
        done = cur_nimg >= total_nimg
        if not done and cur_nimg < tick_start_nimg + tick_nimg:
            continue
        # End of tick.
        cur_tick += 1
        trainer.cur_tick.assign(cur_tick)
        values = tick_stats.collect()
        now = time.time()
        tick_time = now - tick_start_time
        tick_kimg = (cur_nimg - tick_start_nimg) / 1000
        sec_per_kimg = tick_time / max(tick_kimg, 1e-9)
        rss, dev = stats_lib.peak_memory_gib()
        record = dict(values, tick=cur_tick, kimg=cur_nimg / 1000, sec_per_kimg=sec_per_kimg,
                      images_per_sec=tick_kimg * 1000 / max(tick_time, 1e-9), time=timer(),
                      loss_G=values.get("loss_G"), loss_D=values.get("loss_D"),
                      augment_p=float(trainer.augment_p.numpy()),
                      skipped_steps=int(trainer.skipped_G.numpy() + trainer.skipped_D.numpy()),
                      pl_mean=float(trainer.pl_mean.numpy()), host_peak_gib=rss)
        if dev is not None:
            record["device_peak_gib"] = dev
        record.pop("skipped", None)
        eta = (total_nimg - cur_nimg) / 1000 * sec_per_kimg
        mem = f"host {rss:.2f} GiB" + (f", device {dev:.2f} GiB" if dev is not None else "")
        log.print(f"tick {cur_tick:<5d} kimg {cur_nimg / 1000:<8.3f} time {stats_lib.format_time(timer()):<8s} "
                  f"sec/kimg {sec_per_kimg:<7.2f} ETA {stats_lib.format_time(eta):<8s} "
                  f"loss G {values.get('loss_G', float('nan')):.3f} D {values.get('loss_D', float('nan')):.3f} "
                  f"p {record['augment_p']:.3f} mem {mem}")
        log.tick(record)
        if done or (opts["snap"] and cur_tick % opts["snap"] == 0):
            publish(done)
        tick_start_nimg = cur_nimg
        tick_start_time = time.time()
    log.print(f"done: {cur_nimg / 1000:g} kimg in {stats_lib.format_time(timer())}; run directory {run_dir}")
    log.close()
    return run_dir


def snapshot_metrics(G_ema, opts, info, feature_files, run_dir, snapshot, kimg, log):
    """Computes `opts["metrics"]` of G_ema against the training data (mirrored with
    --mirror, at the training resolution), appends one JSON line per metric to
    `metric-<name>.jsonl` and logs `Metrics/<name>` scalars to TensorBoard."""
    import json

    from sg2tf.metrics import runner

    for record in runner.compute_metrics(
            opts["metrics"], G_ema, info, network_path=snapshot, mirror=opts["mirror"],
            num_gen=opts["metrics_num_gen"], feature_paths=feature_files,
            cache=runner.StatsCache(), resolution=opts["resolution"]):
        name = record["metric"]
        record.update(snapshot=snapshot, kimg=kimg, num_gen=opts["metrics_num_gen"]
                      or runner.METRICS[name].num_gen)
        with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        results = record["results"]
        log.print(f"metric {name}: " + " ".join(f"{k} {v:.4g}" for k, v in results.items())
                  + f" ({record['total_time_str']}, {snapshot})")
        scalars = {}
        for key, value in results.items():
            suffix = key[len(name) + 1:] if key.startswith(name + "_") else ""
            scalars[f"Metrics/{name}" + (f"/{suffix}" if suffix else "")] = value
        log.scalars(scalars, int(round(kimg * 1000)))


def main(argv):
    common.start(argv)
    raw = {}
    for name in DEFAULTS:
        if name in FLAGS:
            raw[name] = FLAGS[name].value if FLAGS[name].present or FLAGS[name].value is not None else None
            if not FLAGS[name].present and name in ("resume",):
                raw[name] = FLAGS[name].value
    # Flags left at their defaults do not override the values saved with a resumed run.
    raw = {k: (v if FLAGS[k].present or k not in KEEP_SAVED_WHEN_DEFAULT else None)
           for k, v in raw.items()}
    try:
        train(raw)
    except TrainingError as e:
        common.fail(str(e))


def run():
    # Flags are defined here, not at import: `train()` is a library function that tests and
    # other programs call in-process, where another program's flags may already exist.
    from sg2tf.cli import train_flags  # noqa: F401 (defines the flags)

    app.run(main)


if __name__ == "__main__":
    run()
