"""The training loop of sg2tf-train as a library function: `train(given)`.

`train` runs in phases, top to bottom:
  1. options: the resume source, the strategy, the dataset, then `TrainingOptions`
     (every user error is raised here, before any work; `--dry_run` stops here);
  2. run directory (`training_options.json`, log);
  3. data: the tf.data pipeline (its position is part of every checkpoint);
  4. networks and trainer (`setup.build_trainer`), weights from a `--resume` network;
  5. resume from a checkpoint (the whole state, exactly);
  6. the loop: steps, ticks (progress line, stats.jsonl, TensorBoard), snapshots
     (checkpoint, network snapshot, fakes grid, metrics) every `snap` ticks and at the end.

See docs/training.md for the run directory and the resume rules.
"""

import contextlib
import json
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import sg2tf
import sg2tf.io.snapshot
from sg2tf import data as data_lib
from sg2tf.data.records import read_labels
from sg2tf.metrics import runner
from sg2tf.training import checkpoints, data_identity, pacing, preemption, presets, source_network
from sg2tf.training import options as options_lib
from sg2tf.training import stats as stats_lib
from sg2tf.training.setup import TrainingError, build_trainer, configure_cpu_devices, make_strategy, network_sizes
from sg2tf.utils import console
from sg2tf.utils import images as image_utils
from sg2tf.utils.atomic import atomic_file
from sg2tf.utils.seeds import z_from_seeds


def train(given):
    """Trains with the options a user gave (`{option name: value}`, sg2tf-train's flag names;
    missing or None: the default, the preset's or the resumed run's value).

    Returns the run directory (None for a dry run). Raises `TrainingError` for user errors.
    """
    given = {k: v for k, v in given.items() if v is not None}
    configure_cpu_devices(given.get("cpu_devices", 0))

    # ---- 1. Options (before any work). ----------------------------------------------------
    given, notes = _latest_or_new(given)  # notes: what phase 1 decided, for log.txt
    resume = checkpoints.Resume(None, None)
    if given.get("resume"):
        try:
            resume = checkpoints.resolve_resume(given["resume"], given.get("outdir"))
        except (ValueError, OSError) as e:
            raise TrainingError(str(e)) from None
    resume_kind, resume_path = resume.kind, resume.path
    run_dir, saved = None, None
    if resume_kind == "checkpoint":
        run_dir = os.path.dirname(os.path.dirname(resume_path))
        saved = read_saved_options(run_dir)
        given = resumed_options(given, saved, run_dir)
    elif resume_kind == "network":  # fine-tuning: the source's architecture (source_network.py)
        given = source_network.adopt(options_lib.transfer_defaults(given), resume_path)
    try:
        strategy, num_workers, worker_id, is_chief = make_strategy(given.get("strategy", "auto"))
    except ValueError as e:
        raise TrainingError(str(e)) from None
    replicas = strategy.num_replicas_in_sync
    info = None
    if given.get("data"):
        try:
            info = data_lib.read_data_info(given["data"])  # .tfrecords, or a folder/ZIP of images
        except OSError as e:
            raise data_lib.DatasetError(f"--data: {e}") from None
    elif not given.get("dry_run"):
        raise TrainingError("--data is required")
    data_id, data_note = data_identity.of_run(
        info, resume_path if resume_kind == "checkpoint" else None, given.get("allow_data_change")
    )
    # A dry run's stdout is its JSON alone (scripts parse it): what phase 1 says goes to stderr there.
    note_stream = sys.stderr if given.get("dry_run") else sys.stdout
    for line in filter(None, (*resume.notes, data_note)):  # a damaged checkpoint skipped, other data
        print(line, file=note_stream, flush=True)
        notes.append(line)
    machine = dict(replicas=replicas, has_gpu=bool(tf.config.list_logical_devices("GPU")), num_workers=num_workers)
    opts = options_lib.resolve(given, info, **machine)
    changes = {}
    if resume_kind == "checkpoint":  # the options as saved, resolved here, against the new ones
        before = options_lib.resolve(resumed_options({}, saved, run_dir), info, **machine)
        changes = resume_changes(before, opts, given["resume"])
    metric_files = {}
    if opts.metrics and is_chief:  # every feature network file is there, before any work
        metric_files = options_lib.metric_feature_files(opts)
    cpu_note = None if machine["has_gpu"] else presets.cpu_warning(opts.cfg, opts.resolution)
    if cpu_note and is_chief:  # the official auto sizes are for GPUs; a warning: stderr
        print(f"warning: {cpu_note}", file=sys.stderr, flush=True)
        notes.append(f"warning: {cpu_note}")
    source = source_network.load(resume_path) if resume_kind == "network" else None
    transfer_plan = source_network.plan(opts, source, resume_path) if source is not None else {}
    if opts.dry_run:
        print(opts.to_json(**network_sizes(opts), **transfer_plan))
        return None

    # ---- 2. Run directory. ----------------------------------------------------------------
    for path in resume.damaged if is_chief else ():  # kept, out of reach of `latest` and the rotation
        notes.append(f"{path}: set aside as {checkpoints.set_aside(path)}")
    if run_dir is None and is_chief:
        run_dir = checkpoints.next_run_dir(opts.outdir, opts.run_description)
        write_options(run_dir, opts)
    log = stats_lib.Logger(run_dir, enabled=is_chief)
    run_dir = run_dir or opts.outdir  # other workers write nothing (checkpoint copies go to a temp dir)
    for line in notes:
        log.write(line)
    log.print(f"sg2tf-train: run directory {run_dir}")
    if changes:
        resumed_kimg = checkpoints.read_metadata(resume_path)["nimg"] / 1000
        for key, (old, new) in sorted(changes.items()):
            log.print(f"{key} {format_value(old)} -> {format_value(new)} (from {resumed_kimg:g} kimg)")
        if is_chief:
            history = saved.get("resume_changes", []) + [
                {"kimg": resumed_kimg, "changes": {k: list(v) for k, v in sorted(changes.items())}}
            ]
            write_options(run_dir, opts, resume_changes=history)
    log.print(
        f"strategy {type(strategy).__name__}: {replicas} replica{'s' * (replicas != 1)}, "
        f"{num_workers} worker{'s' * (num_workers != 1)}; "
        f"batch {opts.batch} = {replicas} x {opts.batch_gpu} x {opts.accumulation_rounds} rounds"
    )

    # ---- 3. Data. -------------------------------------------------------------------------

    # The global seed also enters tf.data's shuffle order: set it before building the
    # pipeline, so a run depends only on its options (not on what ran before in-process).
    keras.utils.set_random_seed(opts.seed)
    data_impl, data_reader = None, data_lib.record_reader(opts.data, opts.resolution)
    if resume_kind == "checkpoint":
        data_impl, data_reader = _resumed_reader(resume_path, data_reader, log)
    # Every worker reads the same stream of global batches and takes its own slice: the
    # iterator state is then the same on every worker (the chief's checkpoint restores all
    # of them exactly) and the data order does not depend on the number of workers.
    data_iter = iter(
        data_lib.make_dataset(
            opts.data,
            opts.resolution,
            opts.batch,
            mirror=opts.mirror,
            seed=opts.seed,
            labels=opts.c_dim > 0,
            max_images=opts.max_images,
            shuffle_buffer=opts.shuffle_buffer,
            impl=data_impl,
            cache=opts.data_cache or None,
        )
    )
    worker_batch = opts.batch // num_workers

    def next_batch():
        reals, labels = next(data_iter)
        if num_workers == 1:
            return reals, labels
        lo = worker_id * worker_batch
        return reals[lo : lo + worker_batch], labels[lo : lo + worker_batch]

    # ---- 4. Networks and trainer. ---------------------------------------------------------
    # Generated images' labels are drawn from the dataset's, as in the official loop.
    labels = read_labels(info)[: opts.max_images] if opts.c_dim else None
    # Building runs the networks' kernels for the first time, where TensorFlow prints a notice
    # of its own, once per process ("oneDNN supports DT_HALF only on platforms with AVX-512" in
    # float16 on a CPU): filtered as at start-up (console.quietly), as is the first step.
    with console.quietly():
        trainer = build_trainer(opts, strategy, num_workers=num_workers, labels=labels)
    G, D, G_ema = trainer.G, trainer.D, trainer.G_ema
    if source is not None:
        source_network.copy_weights(source, (G, D, G_ema), resume_path, log.print)
    if trainer.frozen:
        log.print(
            f"frozen variables: {len(trainer.frozen)} ({opts.freezed} D layers, G synthesis below "
            f"{opts.freeze_g}{', G mapping' if opts.freeze_mapping else ''})"
        )

    # ---- 5. Resume. -----------------------------------------------------------------------
    manager = checkpoints.CheckpointManager(
        run_dir, dict(trainer.checkpoint_objects(), data=data_iter), keep=opts.keep_checkpoints, is_chief=is_chief
    )
    if resume_kind == "checkpoint":
        meta = manager.restore(resume_path, skip=("data",) if data_note else ())
        log.print(f"resumed from {resume_path} at {meta['nimg'] / 1000:.3f} kimg, tick {meta['tick']}")
        log.truncate_stats(meta["tick"])
        if "p" in changes:  # a new augmentation probability replaces the restored one
            trainer.augment_p.assign(opts.p if opts.aug != "noaug" else 0.0)

    # ---- 6. The loop. ---------------------------------------------------------------------
    grid_z = z_from_seeds(range(opts.grid_seeds), G.z_dim)
    grid_c = None
    if opts.c_dim:
        grid_c = np.eye(opts.c_dim, dtype=np.float32)[np.arange(opts.grid_seeds) % opts.c_dim]
    if is_chief and resume_kind != "checkpoint":
        image_utils.atomic_save_png(
            os.path.join(run_dir, "reals.png"),
            image_utils.make_grid(
                image_utils.to_uint8(
                    next(
                        iter(
                            data_lib.make_dataset(
                                opts.data,
                                opts.resolution,
                                min(opts.grid_seeds, info.count),
                                shuffle_buffer=0,
                                repeat=False,
                                labels=False,
                            )
                        )
                    )[0].numpy()
                )
            ),
        )
        with console.quietly():  # G's first kernels: TensorFlow's notice, as in build_trainer
            image_utils.atomic_save_png(os.path.join(run_dir, "fakes_init.png"), fakes_grid(G_ema, grid_z, grid_c))

    total_nimg = int(round(opts.kimg * 1000))
    tick_nimg = int(round(opts.tick_kimg * 1000))
    cur_nimg = int(trainer.cur_nimg.numpy())
    cur_tick = int(trainer.cur_tick.numpy())
    tick_start_nimg = meta.get("tick_start_nimg", cur_nimg) if resume_kind == "checkpoint" else cur_nimg
    tick_stats = stats_lib.TickStats()
    timer = stats_lib.Timer()
    tick_start_time = time.time()
    log.print(f"training for {opts.kimg:g} kimg from {cur_nimg / 1000:g} kimg")

    def checkpoint_meta():
        return dict(
            tick=cur_tick, kimg=cur_nimg / 1000, tick_start_nimg=tick_start_nimg, data_reader=data_reader, data=data_id
        )

    def publish():
        """Checkpoint, then (chief) network snapshot, fakes grid and metrics."""
        snap_kimg = checkpoints.kimg_name(cur_nimg)  # unique: ticks may be under 1 kimg
        meta = checkpoint_meta()
        manager.save(cur_nimg, meta)
        if is_chief:
            snapshot = f"network-snapshot-{snap_kimg}"
            sg2tf.io.snapshot.save_snapshot(
                os.path.join(run_dir, snapshot),
                {"G": G, "D": D, "G_ema": G_ema},
                dict(meta, augment_p=float(trainer.augment_p.numpy()), options=opts.to_dict()),
            )
            image_utils.atomic_save_png(
                os.path.join(run_dir, f"fakes{snap_kimg}.png"), fakes_grid(G_ema, grid_z, grid_c)
            )
            if opts.metrics:
                snapshot_metrics(G_ema, opts, info, metric_files, run_dir, snapshot, cur_nimg / 1000, log)

    stop = preemption.active()  # SIGTERM / SIGINT under sg2tf-train
    pace = pacing.Pace(trainer)  # sec/kimg without compiling; a first line within a minute
    first_step = True
    while cur_nimg < total_nimg and not stop.agreed(strategy, num_workers):
        reals, labels = next_batch()
        with console.quietly() if first_step else contextlib.nullcontext():  # as build_trainer
            tick_stats.add(pace.step(trainer.train_step, reals, labels, nimg=opts.batch))
        first_step = False
        cur_nimg += opts.batch
        done = cur_nimg >= total_nimg
        if not done and cur_nimg < tick_start_nimg + tick_nimg:
            pace.interim(cur_nimg, total_nimg, tick_start_nimg + tick_nimg, log.print)
            continue
        # End of tick.
        cur_tick += 1
        trainer.cur_tick.assign(cur_tick)
        values = tick_stats.collect()
        now = time.time()
        tick_time = now - tick_start_time
        tick_kimg = (cur_nimg - tick_start_nimg) / 1000
        timed = pace.run_nimg > 0  # else every step of the tick compiled: no rate to show yet
        sec_per_kimg = pace.tick_seconds(tick_time) / max(tick_kimg, 1e-9)
        rss, dev = stats_lib.peak_memory_gib()
        record = dict(
            values,
            tick=cur_tick,
            kimg=cur_nimg / 1000,
            sec_per_kimg=sec_per_kimg,
            images_per_sec=tick_kimg * 1000 / max(tick_time, 1e-9),
            time=timer(),
            loss_G=values.get("loss_G"),
            loss_D=values.get("loss_D"),
            augment_p=float(trainer.augment_p.numpy()),
            skipped_steps=int(trainer.skipped_G.numpy() + trainer.skipped_D.numpy()),
            pl_mean=float(trainer.pl_mean.numpy()),
            host_peak_gib=rss,
        )
        if dev is not None:
            record["device_peak_gib"] = dev
        if trainer.fp16:  # the dynamic loss scales, as TF1's loss_scaling_log2 summaries
            record.update(loss_scale_G=float(trainer.opt_G.dynamic_scale.numpy()))
            record.update(loss_scale_D=float(trainer.opt_D.dynamic_scale.numpy()))
        record.pop("skipped", None)
        eta = (total_nimg - cur_nimg) / 1000 * sec_per_kimg
        log.print(stats_lib.tick_line(record, eta if timed else None, show_skipped=trainer.fp16))
        log.tick(record)
        tick_start_nimg = cur_nimg
        if done or (opts.snap and cur_tick % opts.snap == 0):
            publish()
        tick_start_time = time.time()
    if cur_nimg < total_nimg:  # stopped by a signal: a checkpoint, one line, exit status 75 (preemption.py)
        preemption.stop_training(stop, manager, cur_nimg, checkpoint_meta(), log)
    log.print(f"done: {cur_nimg / 1000:g} kimg in {stats_lib.format_time(timer())}; run directory {run_dir}")
    log.close()
    return run_dir


def _latest_or_new(given):
    """`(given, notes)`: `--resume=latest` with no complete checkpoint under `--outdir` becomes
    a new run (the preemptible-machine loop always passes --resume=latest, and a first run may
    be killed before its first checkpoint)."""
    if given.get("resume") != "latest":
        return given, []
    if not given.get("outdir"):
        raise TrainingError("--resume=latest: needs --outdir (the newest run under it is continued)")

    if checkpoints.latest_run_dir(given["outdir"]) is not None:
        return given, []
    note = f"--resume=latest: no run with a complete checkpoint under {given['outdir']!r}; starting a new run"
    print(note, file=sys.stderr if given.get("dry_run") else sys.stdout, flush=True)
    return {k: v for k, v in given.items() if k != "resume"}, [note]


def resume_changes(before, after, resume):
    """`{option: (old, new)}` of a run continued from its checkpoint; raises `TrainingError`
    naming the changed options that cannot change (`options.FIXED_ON_RESUME`)."""
    changes = option_changes(before, after)
    fixed = sorted(k for k in changes if k in options_lib.FIXED_ON_RESUME)
    if fixed:
        reasons = sorted({options_lib.FIXED_ON_RESUME[k] for k in fixed})
        listed = ", ".join(f"--{k} ({format_value(changes[k][0])} -> {format_value(changes[k][1])})" for k in fixed)
        raise TrainingError(
            f"--resume={resume}: cannot change {listed} of a run continued from its checkpoint "
            f"({'; '.join(reasons)}); start a new run from one of its network snapshots instead "
            "(--resume=RUN/network-snapshot-NNNNNN)"
        )
    return changes


def read_saved_options(run_dir):
    """The parsed `training_options.json` of a run."""
    path = os.path.join(run_dir, "training_options.json")
    try:
        with open(path) as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainingError(f"{path}: cannot read the run's options ({e})") from None
    if not isinstance(saved, dict):
        raise TrainingError(f"{path}: not a JSON object")
    return saved


def resumed_options(given, saved, run_dir):
    """The options of a run continued from its checkpoint: the saved ones, overridden by every
    option given now; local options (`options.LOCAL_OPTIONS`) are never taken from the saved run."""
    base = {
        k: v for k, v in options_lib.TrainingOptions.saved_values(saved).items() if k not in options_lib.LOCAL_OPTIONS
    }
    if "data" in given and "data" in base and _same_path(given["data"], base["data"]):
        given = dict(given, data=base["data"])  # the same dataset, spelt another way
    base.update(given)
    base["outdir"] = given.get("outdir") or os.path.dirname(run_dir)
    return base


def _same_path(a, b):
    return os.path.abspath(os.path.normpath(a)) == os.path.abspath(os.path.normpath(b))


def option_changes(before, after):
    """`{option: (old, new)}` of the options (not the derived values) that differ."""
    changes = {}
    for key in options_lib.DEFAULTS:
        if key in options_lib.LOCAL_OPTIONS:
            continue
        old, new = getattr(before, key), getattr(after, key)
        if old != new:
            changes[key] = (list(old) if isinstance(old, tuple) else old, list(new) if isinstance(new, tuple) else new)
    return changes


def format_value(value):
    """An option value as the change lines show it (`gamma 10 -> 5`)."""
    if isinstance(value, list):
        return ",".join(value) or "none"
    if isinstance(value, str):
        try:
            return f"{float(value):g}"  # a constant schedule
        except ValueError:
            return value
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_options(run_dir, opts, **extra):
    """Writes the run's `training_options.json` (all or nothing)."""

    with atomic_file(os.path.join(run_dir, "training_options.json")) as tmp:
        with open(tmp, "w") as f:
            f.write(opts.to_json(**extra))


def _resumed_reader(resume_path, data_reader, log):
    """`(impl, reader)` of the data pipeline that can restore the checkpoint's data position:
    its iterator state restores only into a dataset read the same way."""

    saved_reader = checkpoints.read_metadata(resume_path).get("data_reader")
    if saved_reader == "stream" and data_reader == "compiled":
        log.print("data: the checkpoint was written with the stock TFRecord reader; reading the same way")
        return "ref", "stream"
    if saved_reader == "compiled" and data_reader == "stream":
        raise TrainingError(
            f"--resume={resume_path}: this checkpoint's data position was saved by the compiled "
            "record reader, which this process cannot use (no op library, or SG2TF_OPS=ref): "
            "build the ops (scripts/build_ops.sh) and resume again, or start a new run from "
            "the run's network snapshot"
        )
    return None, data_reader


def fakes_grid(G, z, c):
    """uint8 grid: the fixed seeds at psi 1 (top) and psi 0.7 (bottom), const noise."""

    rows = []
    for psi in (1.0, 0.7):
        imgs = []
        for i in range(0, len(z), 8):
            imgs.append(
                G.generate(
                    z[i : i + 8], None if c is None else c[i : i + 8], truncation_psi=psi, noise_mode="const"
                ).numpy()
            )
        rows.append(np.concatenate(imgs))
    images = image_utils.to_uint8(np.concatenate(rows))
    return image_utils.make_grid(images, cols=max(int(np.ceil(np.sqrt(len(z)))), 1))


def snapshot_metrics(G_ema, opts, info, feature_files, run_dir, snapshot, kimg, log):
    """Computes `opts.metrics` of G_ema against the training data (mirrored with --mirror,
    at the training resolution), appends one JSON line per metric to `metric-<name>.jsonl`
    and logs `Metrics/<name>` scalars to TensorBoard."""

    for record in runner.compute_metrics(
        list(opts.metrics),
        G_ema,
        info,
        network_path=snapshot,
        mirror=opts.mirror,
        num_gen=opts.metrics_num_gen,
        feature_paths=feature_files,
        cache=runner.StatsCache(),
        resolution=opts.resolution,
    ):
        name = record["metric"]
        record.update(snapshot=snapshot, kimg=kimg, num_gen=opts.metrics_num_gen or runner.METRICS[name].num_gen)
        with open(os.path.join(run_dir, f"metric-{name}.jsonl"), "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        results = record["results"]
        log.print(
            f"metric {name}: "
            + " ".join(f"{k} {v:.4g}" for k, v in results.items())
            + f" ({record['total_time_str']}, {snapshot})"
        )
        scalars = {}
        for key, value in results.items():
            suffix = key[len(name) + 1 :] if key.startswith(name + "_") else ""
            scalars[f"Metrics/{name}" + (f"/{suffix}" if suffix else "")] = value
        log.scalars(scalars, int(round(kimg * 1000)))
