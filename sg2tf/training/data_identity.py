"""The identity of the dataset under a run, recorded in every checkpoint and checked on resuming.

A checkpoint restores the data position (the tf.data iterator: file offsets, shuffle buffer),
which means something only on the data it was saved with. `identify` describes a dataset
cheaply: image count, resolution, channels, labels, and per file its size and a fingerprint
(SHA-256 of its first and last MiB: regenerating, appending or replacing images changes it;
reading it costs 2 MiB per file however large the dataset); images read directly (a folder or
ZIP) by their file list (`image_folder.listing_fingerprint`: names, sizes and times of a
folder's files, names, sizes and CRC-32s of a ZIP's members, and dataset.json). `check`
compares the recorded identity with the dataset found on resuming: a difference is a one-line
error unless `--allow_data_change`, which logs it and starts the data stream afresh on the new
data.
"""

import hashlib
import os

import tensorflow as tf

from sg2tf.data import image_folder
from sg2tf.training import checkpoints
from sg2tf.training.setup import TrainingError

FINGERPRINT_BYTES = 1 << 20  # read from each end of a file


def identify(info):
    """`{count, resolution, channels, label_size, files: {name: {bytes, fingerprint}}}` of a
    `DatasetInfo`: the data files of every stored resolution and the labels file."""
    if info.encoding == "images":  # a folder or ZIP read directly (sg2tf.data.image_folder)
        files = image_folder.identity_files(info)
    else:
        paths = list(info.files.values()) + ([info.label_file] if info.label_file else [])
        files = {os.path.basename(p): _file_identity(p) for p in sorted(paths)}
    return dict(
        count=info.count,
        resolution=info.resolution,
        channels=info.channels,
        label_size=info.label_size,
        files=files,
    )


def _file_identity(path):
    size = tf.io.gfile.stat(path).length
    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        if size > 2 * FINGERPRINT_BYTES:
            f.seek(size - FINGERPRINT_BYTES)
        digest.update(f.read())
    return {"bytes": size, "fingerprint": digest.hexdigest()[:16]}


def differences(saved, current):
    """What changed from identity `saved` to `current`, as short phrases (`count 24 -> 30`,
    `shapes-r04.tfrecords: other content`); empty if nothing did."""
    keys = ("count", "resolution", "channels", "label_size")
    out = [f"{k} {saved.get(k)} -> {current[k]}" for k in keys if saved.get(k) != current[k]]
    old, new = saved.get("files", {}), current["files"]
    for name in sorted(set(old) | set(new)):
        if name not in new:
            out.append(f"{name}: gone")
        elif name not in old:
            out.append(f"{name}: new")
        elif old[name]["bytes"] != new[name]["bytes"]:
            out.append(f"{name}: {old[name]['bytes']} -> {new[name]['bytes']} bytes")
        elif old[name]["fingerprint"] != new[name]["fingerprint"]:
            out.append(f"{name}: other content")
    return out


def check(saved, current, data, checkpoint, allow):
    """Compares the identity `saved` in `checkpoint` with `current` (of dataset `data`).

    Returns None when they agree (or the checkpoint predates identities), else the line to
    log when `allow` (`--allow_data_change`). Raises `TrainingError` when they differ and
    the change is not allowed.
    """
    if not saved:
        return None
    changed = differences(saved, current)
    if not changed:
        return None
    what = ", ".join(changed)
    if not allow:
        raise TrainingError(
            f"--data={data}: the dataset changed since {checkpoint} was written ({what}); its data "
            "position means nothing on other data: pass --allow_data_change to continue on it anyway"
        )
    return (
        f"--data={data}: the dataset changed since {checkpoint} ({what}); continuing on it "
        "(--allow_data_change): the data stream starts afresh"
    )


def of_run(info, checkpoint=None, allow=False):
    """`(identity, note)` of dataset `info` (a `DatasetInfo`, or None: no data, both None) for
    a run: its identity and, resuming from `checkpoint`, the result of `check` against the
    identity recorded there."""
    if info is None:
        return None, None
    identity = identify(info)
    if checkpoint is None:
        return identity, None

    saved = checkpoints.read_metadata(checkpoint).get("data")
    return identity, check(saved, identity, info.path, checkpoint, allow)
