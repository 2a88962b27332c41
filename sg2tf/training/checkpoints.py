"""Run directories and crash-safe training checkpoints.

A run directory `OUTDIR/NNNNN-<desc>/` holds `training_options.json`, `log.txt`,
`stats.jsonl`, TensorBoard events, `fakesNNNNNN.png` grids, native network snapshots
(`network-snapshot-NNNNNN/`) and `checkpoints/ckpt-NNNNNNNNNNNN/` (the image count).

A checkpoint is written into a hidden temporary directory, its files are flushed, a
`done.json` marker is added and only then is the directory renamed to its final name.
A reader considers only final names with a marker, so a crash at any moment leaves the
previous checkpoints intact and never a partial one under a final name.
"""

import glob
import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

CKPT_RE = re.compile(r"^ckpt-(\d{12})$")
RUN_RE = re.compile(r"^(\d{5})-")


def next_run_dir(outdir, desc):
    """Creates and returns `outdir/NNNNN-desc` with the next free number."""
    os.makedirs(outdir, exist_ok=True)
    while True:
        ids = [int(m.group(1)) for m in (RUN_RE.match(n) for n in os.listdir(outdir)) if m]
        run_dir = os.path.join(outdir, f"{max(ids, default=-1) + 1:05d}-{desc}")
        try:
            os.makedirs(run_dir)
            return run_dir
        except FileExistsError:  # another process took the number
            continue


def latest_run_dir(outdir):
    """The newest run directory under `outdir` that has a complete checkpoint, or None."""
    if not outdir or not os.path.isdir(outdir):
        return None
    runs = sorted((n for n in os.listdir(outdir) if RUN_RE.match(n)), reverse=True)
    for name in runs:
        path = os.path.join(outdir, name)
        if latest_checkpoint(path):
            return path
    return None


def list_checkpoints(run_dir):
    """Complete checkpoints of a run, oldest first: `[(nimg, path)]`."""
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    out = []
    for name in os.listdir(root):
        m = CKPT_RE.match(name)
        path = os.path.join(root, name)
        if m and os.path.exists(os.path.join(path, "done.json")):
            out.append((int(m.group(1)), path))
    return sorted(out)


def latest_checkpoint(run_dir):
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1][1] if ckpts else None


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class CheckpointManager:
    """Writes and restores `tf.train.Checkpoint`s of the whole training state.

    Args:
      run_dir: the run directory.
      objects: `{name: trackable}` (see `Trainer.checkpoint_objects`).
      keep: how many complete checkpoints to keep.
      is_chief: only the chief publishes; other workers (multi-worker training) write
        into a temporary directory outside the run directory that is deleted, as
        tf.distribute requires every worker to take part in saving.
    """

    def __init__(self, run_dir, objects, keep=3, is_chief=True):
        self.run_dir = run_dir
        self.root = os.path.join(run_dir, "checkpoints")
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.keep = max(int(keep), 1)
        self.is_chief = is_chief

    def save(self, nimg, metadata):
        """Writes a checkpoint for image count `nimg`; returns its path (None on non-chiefs)."""
        if not self.is_chief:
            # Every worker must take part in writing; the others write a private copy
            # outside the run directory and delete it.
            tmp = tempfile.mkdtemp(prefix="sg2tf-worker-ckpt-")
            try:
                self.checkpoint.write(os.path.join(tmp, "state"))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return None
        os.makedirs(self.root, exist_ok=True)
        final = os.path.join(self.root, f"ckpt-{int(nimg):012d}")
        tmp = tempfile.mkdtemp(prefix=".tmp-ckpt-", dir=self.root)
        try:
            self.checkpoint.write(os.path.join(tmp, "state"))
            with open(os.path.join(tmp, "done.json"), "w") as f:
                json.dump(dict(metadata, nimg=int(nimg)), f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            for path in glob.glob(os.path.join(tmp, "*")):
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
            _fsync_dir(tmp)
            if os.path.exists(final):  # the same image count again (e.g. after a resume)
                shutil.rmtree(final)
            os.replace(tmp, final)
            _fsync_dir(self.root)
            tmp = None
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        for _, old in list_checkpoints(self.run_dir)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in glob.glob(os.path.join(self.root, ".tmp-ckpt-*")):
            shutil.rmtree(stale, ignore_errors=True)
        return final

    def restore(self, path):
        """Restores every object from checkpoint directory `path`; returns its metadata."""
        status = self.checkpoint.read(os.path.join(path, "state"))
        status.assert_existing_objects_matched()
        return read_metadata(path)


def read_metadata(path):
    """The metadata saved with checkpoint directory `path` (its `done.json`)."""
    with open(os.path.join(path, "done.json")) as f:
        return json.load(f)


def resolve_resume(resume, outdir):
    """What `--resume` names: `('checkpoint', ckpt_dir)` to continue a run exactly, or
    `('network', path)` to start from a snapshot or pickle. Raises ValueError if unreadable."""
    from sg2tf.io import snapshot

    if resume == "latest":
        run = latest_run_dir(outdir)
        if run is None:
            raise ValueError(f"--resume=latest: no run with a complete checkpoint under {outdir!r}")
        return "checkpoint", latest_checkpoint(run)
    if not os.path.exists(resume) and not resume.startswith(("gs://", "s3://")):
        raise ValueError(f"--resume={resume}: no such file or directory")
    if os.path.isdir(resume):
        if CKPT_RE.match(os.path.basename(os.path.normpath(resume))):
            if not os.path.exists(os.path.join(resume, "done.json")):
                raise ValueError(f"--resume={resume}: an incomplete checkpoint")
            return "checkpoint", resume
        ckpt = latest_checkpoint(resume)
        if ckpt:
            return "checkpoint", ckpt
        if snapshot.is_snapshot(resume):
            return "network", resume
        raise ValueError(f"--resume={resume}: not a run directory with a checkpoint, nor a network snapshot")
    with open(resume, "rb") as f:
        head = f.read(2)
    if not head:
        raise ValueError(f"--resume={resume}: an empty file")
    return "network", resume
