"""The native network snapshot: Keras weights plus a JSON config, no pickle.

A snapshot is a directory:
  sg2tf_network.json   format tag, each network's class and config, free metadata
  G.weights.h5, D.weights.h5, G_ema.weights.h5   Keras weights (any subset)

It is written to a temporary sibling, flushed to disk and renamed into place, so a reader
never sees a half-written snapshot; a write the machine refuses (full disk, quota) is one
line (`sg2tf.utils.atomic.WriteError`) and leaves nothing. The index records each weights
file's size and SHA-256, and loading checks them first: a damaged file is named in one line.
"""

import json
import os

import tensorflow as tf

from sg2tf.io.nvlabs_tf import NetworkImportError
from sg2tf.networks.discriminator import Discriminator
from sg2tf.networks.generator import Generator
from sg2tf.utils import atomic

FORMAT = "sg2tf-network"
VERSION = 1
INDEX = "sg2tf_network.json"
CLASSES = {"Generator": Generator, "Discriminator": Discriminator}


def is_snapshot(path):
    return tf.io.gfile.isdir(path) and tf.io.gfile.exists(os.path.join(path, INDEX))


def save_snapshot(path, networks, metadata=None):
    """Writes `networks` (`{'G': model, 'D': model, 'G_ema': model}`) to directory `path`.

    Replaces an existing snapshot at `path` atomically (rename).
    """
    path = os.path.abspath(os.fspath(path))
    with atomic.atomic_dir(path, durable=True) as tmp:
        index = {"format": FORMAT, "version": VERSION, "networks": {}, "metadata": dict(metadata or {})}
        for key, model in networks.items():
            if model is None:
                continue
            cls = type(model).__name__
            if cls not in CLASSES:
                raise TypeError(f"cannot snapshot {key}: unsupported class {cls}")
            filename = f"{key}.weights.h5"
            model.save_weights(os.path.join(tmp, filename))
            entry = {"class": cls, "config": model.get_config(), "weights": filename}
            index["networks"][key] = dict(entry, **atomic.file_digests(tmp, [filename])[filename])
        with open(os.path.join(tmp, INDEX), "w") as f:
            json.dump(index, f, indent=1, sort_keys=True)
    return path


def load_snapshot(path):
    """Reads a snapshot; returns `(networks_dict, metadata)`. A damaged or foreign snapshot is a
    `NetworkImportError` (one line naming the file)."""
    index_path = os.path.join(path, INDEX)
    try:
        with tf.io.gfile.GFile(index_path, "r") as f:
            index = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NetworkImportError(f"{index_path}: not a valid sg2tf snapshot index ({e})") from None
    if index.get("format") != FORMAT:
        raise NetworkImportError(f"{index_path}: not an sg2tf snapshot (format={index.get('format')!r})")
    if index.get("version", 0) > VERSION:
        raise NetworkImportError(
            f"{index_path}: snapshot version {index['version']} is newer than this "
            f"sg2tf supports ({VERSION}); upgrade sg2tf"
        )
    networks = {}
    for key, entry in index.get("networks", {}).items():
        cls = CLASSES.get(entry.get("class"))
        if cls is None:
            raise NetworkImportError(f"{index_path}: network {key!r} has unknown class {entry.get('class')!r}")
        model = cls.from_config(entry["config"])
        weights = os.path.join(path, entry["weights"])
        if not tf.io.gfile.exists(weights):
            raise FileNotFoundError(f"{weights}: weights of {key} are missing from the snapshot")
        if "sha256" in entry:  # snapshots written before checksums: Keras' own checks only
            damage = atomic.find_damage(path, {entry["weights"]: entry})
            if damage is not None:
                raise NetworkImportError(f"{damage}: the weights of {key} are damaged")
        try:
            model.load_weights(weights)
        except Exception as e:  # Keras raises several types for damaged files.
            raise NetworkImportError(f"{weights}: cannot load the weights of {key}: {e}") from e
        networks[key] = model
    return networks, index.get("metadata", {})
