"""Run directories and crash-safe, verified training checkpoints.

A run directory `OUTDIR/NNNNN-<desc>/` holds `training_options.json`, `log.txt`,
`stats.jsonl`, TensorBoard events, `fakesNNNNNN.png` grids, native network snapshots
(`network-snapshot-NNNNNN/`, kimg; `NNNNNN.NNN` between whole kimg: `kimg_name`) and
`checkpoints/ckpt-NNNNNNNNNNNN/` (the image count).

A checkpoint is written into a hidden temporary directory (`sg2tf.utils.atomic.atomic_dir`),
a `done.json` marker holding its metadata and the size and SHA-256 of each of its files is
added, everything is flushed to disk, and only then is the directory renamed to its final
name. A reader considers only final names with a marker, so a crash at any moment leaves the
previous checkpoints intact and never a partial one under a final name; a write that fails
(full disk, quota, I/O error) leaves nothing and is one line (`WriteError`).

Resuming verifies a checkpoint against its marker first. `--resume=latest` (or a run
directory) skips a damaged newest checkpoint, says so in one line and resumes from the newest
intact one; the damaged one is kept, renamed `ckpt-N.damaged` (`set_aside`), where neither
`latest` nor the rotation of old checkpoints touches it. `--resume=CHECKPOINT` that is damaged
is an error naming the file.
"""

import collections
import glob
import json
import os
import re
import shutil
import tempfile

import tensorflow as tf

from sg2tf.io import snapshot
from sg2tf.utils import atomic

CKPT_RE = re.compile(r"^ckpt-(\d{12})$")
SET_ASIDE_RE = re.compile(r"^ckpt-(\d{12})\.damaged(-\d+)?$")
RUN_RE = re.compile(r"^(\d{5})-")
MARKER = "done.json"

# What `--resume` names: `kind` 'checkpoint' (continue a run exactly) or 'network' (start
# from a snapshot or pickle), its `path`, one-line `notes` to print and log, and the `damaged`
# checkpoints that were skipped (to `set_aside` once the run is under way).
Resume = collections.namedtuple("Resume", "kind path notes damaged", defaults=((), ()))


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


def kimg_name(nimg):
    """The image count in a snapshot's or fakes grid's name: `NNNNNN` kimg (as the originals
    write it) at a whole kimg, else `NNNNNN.NNN`, exact to the image, so that two snapshots
    never share a name (ticks under 1 kimg, a final tick after a shorter gap) and the names
    sort by image count."""
    return f"{nimg // 1000:06d}" if nimg % 1000 == 0 else f"{nimg / 1000:010.3f}"


def list_checkpoints(run_dir):
    """Complete checkpoints of a run (final name and marker; not verified), oldest first:
    `[(nimg, path)]`."""
    root = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(root):
        return []
    out = []
    for name in os.listdir(root):
        m = CKPT_RE.match(name)
        path = os.path.join(root, name)
        if m and os.path.exists(os.path.join(path, MARKER)):
            out.append((int(m.group(1)), path))
    return sorted(out)


def latest_checkpoint(run_dir):
    ckpts = list_checkpoints(run_dir)
    return ckpts[-1][1] if ckpts else None


def verify(path):
    """What is wrong with checkpoint directory `path`, as `'<file>: <what>'`; None if it is
    intact. Checkpoints written before markers held checksums are checked for their index."""
    try:
        meta = read_metadata(path)
    except (OSError, ValueError) as e:
        return f"{os.path.join(path, MARKER)}: unreadable ({e})"
    files = meta.get("files")
    if files is None:
        index = os.path.join(path, "state.index")
        return None if os.path.exists(index) else f"{index}: missing"
    return atomic.find_damage(path, files)


def set_aside(path):
    """Renames the damaged checkpoint `path` to `path.damaged` (or `.damaged-N`), out of reach
    of `latest` and of the rotation; returns the new path."""
    target, n = f"{path}.damaged", 1
    while os.path.exists(target):
        target, n = f"{path}.damaged-{n}", n + 1
    try:
        os.replace(path, target)
    except FileNotFoundError:  # another worker of the run set it aside
        return target
    return target


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
        self.objects = dict(objects)
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.keep = max(int(keep), 1)
        self.is_chief = is_chief
        self.saved_nimg = None  # the image count of the last checkpoint this process wrote

    def save(self, nimg, metadata):
        """Writes a checkpoint for image count `nimg`; returns its path (None on non-chiefs).

        Raises `WriteError` (one line: the checkpoint's path and the cause) when the machine
        refuses the write; the earlier checkpoints are then untouched.
        """
        self.saved_nimg = int(nimg)
        if not self.is_chief:
            # Every worker must take part in writing; the others write a private copy
            # outside the run directory and delete it.
            tmp = tempfile.mkdtemp(prefix="sg2tf-worker-ckpt-")
            try:
                self.checkpoint.write(os.path.join(tmp, "state"))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return None
        final = os.path.join(self.root, f"ckpt-{int(nimg):012d}")
        try:
            with atomic.atomic_dir(final, durable=True) as tmp:
                self.checkpoint.write(os.path.join(tmp, "state"))
                marker = dict(metadata, nimg=int(nimg), files=atomic.file_digests(tmp))
                with open(os.path.join(tmp, MARKER), "w") as f:
                    json.dump(marker, f, indent=1, sort_keys=True)
        except atomic.WriteError as e:
            raise atomic.WriteError(f"{e}; the earlier checkpoints are intact") from e
        for _, old in list_checkpoints(self.run_dir)[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        for pattern in (".ckpt-*.tmp-*", ".ckpt-*.old-*", ".tmp-ckpt-*"):  # left by killed writers
            for stale in glob.glob(os.path.join(self.root, pattern)):
                shutil.rmtree(stale, ignore_errors=True)
        return final

    def restore(self, path, skip=()):
        """Restores every object (but those named in `skip`) from checkpoint directory `path`;
        returns its metadata."""
        if skip:
            checkpoint = tf.train.Checkpoint(**{k: v for k, v in self.objects.items() if k not in skip})
            checkpoint.read(os.path.join(path, "state")).expect_partial().assert_existing_objects_matched()
        else:
            self.checkpoint.read(os.path.join(path, "state")).assert_existing_objects_matched()
        meta = read_metadata(path)
        self.saved_nimg = meta["nimg"]
        return meta


def read_metadata(path):
    """The metadata saved with checkpoint directory `path` (its `done.json`)."""
    with open(os.path.join(path, MARKER)) as f:
        return json.load(f)


def _newest_intact(run_dir, flag):
    """`Resume` of the newest intact checkpoint of `run_dir`, skipping damaged newer ones."""
    damaged = []
    for _, path in reversed(list_checkpoints(run_dir)):
        problem = verify(path)
        if problem is None:
            notes = ()
            if damaged:  # one line: the newest damaged file
                more = f" (and {len(damaged) - 1} more damaged checkpoints)" if len(damaged) > 1 else ""
                resuming = f"resuming from {os.path.basename(path)}, the newest intact checkpoint"
                notes = (f"{flag}: {damaged[0][1]}{more}; {resuming}",)
            return Resume("checkpoint", path, notes, tuple(bad for bad, _ in damaged))
        damaged.append((path, problem))
    raise ValueError(
        f"{flag}: every checkpoint of {run_dir} is damaged (newest: {damaged[0][1]}); "
        "start a new run from one of its network snapshots (--resume=RUN/network-snapshot-NNNNNN)"
    )


def resolve_resume(resume, outdir):
    """What `--resume` names, as a `Resume`. Raises ValueError (one line) if it is unreadable,
    or a damaged checkpoint named explicitly."""

    if resume == "latest":
        run = latest_run_dir(outdir)
        if run is None:
            raise ValueError(f"--resume=latest: no run with a complete checkpoint under {outdir!r}")
        return _newest_intact(run, "--resume=latest")
    if not os.path.exists(resume) and not resume.startswith(("gs://", "s3://")):
        raise ValueError(f"--resume={resume}: no such file or directory")
    if os.path.isdir(resume):
        if any(r.match(os.path.basename(os.path.normpath(resume))) for r in (CKPT_RE, SET_ASIDE_RE)):
            if not os.path.exists(os.path.join(resume, MARKER)):
                raise ValueError(f"--resume={resume}: an incomplete checkpoint")
            problem = verify(resume)
            if problem is not None:
                raise ValueError(f"--resume={resume}: a damaged checkpoint: {problem}")
            return Resume("checkpoint", resume)
        if latest_checkpoint(resume):
            return _newest_intact(resume, f"--resume={resume}")
        if snapshot.is_snapshot(resume):
            return Resume("network", resume)
        raise ValueError(f"--resume={resume}: not a run directory with a checkpoint, nor a network snapshot")
    with open(resume, "rb") as f:
        head = f.read(2)
    if not head:
        raise ValueError(f"--resume={resume}: an empty file")
    return Resume("network", resume)
