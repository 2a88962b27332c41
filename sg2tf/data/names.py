"""Which source file each record came from: the `<name>-names.json` sidecar.

sg2tf-dataset writes it next to the `.tfrecords` files when the images came from files
(`create_from_images`, `from_zip`): the file's path relative to the folder (or its ZIP member
name) for every record, in record order (after shuffling). The official readers ignore it;
datasets without it (official ones, synthetic, CIFAR, MNIST, ...) simply have no names and
the tools name images by record index.

    {"format": "sg2tf-record-names", "version": 1, "count": 3, "names": ["a.png", ...]}
"""

import json
import posixpath

import tensorflow as tf

from sg2tf.data.errors import DatasetError

NAMES_SUFFIX = "-names.json"
FORMAT = "sg2tf-record-names"
VERSION = 1


def names_filename(prefix):
    return prefix + NAMES_SUFFIX


def encode(names):
    """The sidecar's bytes for `names` (a list of strings, one per record)."""
    names = list(names)
    bad = [i for i, n in enumerate(names) if not isinstance(n, str) or not n]
    if bad:
        raise DatasetError(f"record {bad[0]}: a source name must be a non-empty string, got {names[bad[0]]!r}")
    doc = {"format": FORMAT, "version": VERSION, "count": len(names), "names": names}
    return (json.dumps(doc, ensure_ascii=False, indent=0) + "\n").encode("utf-8")


def write_names(directory, prefix, names):
    with tf.io.gfile.GFile(posixpath.join(directory, names_filename(prefix)), "wb") as f:
        f.write(encode(names))


def read_names(info):
    """The source names of `info`'s records (a list, record order), or None when the dataset
    has no sidecar. A sidecar that does not fit the dataset is a `DatasetError`."""

    path = info.path.rstrip("/") + "/" + names_filename(info.name)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not a names file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise DatasetError(f"{path}: not a names file (format {found!r})")
    if doc.get("version") != VERSION:
        raise DatasetError(f"{path}: names file version {doc.get('version')!r}; this sg2tf reads version {VERSION}")
    names = doc.get("names")
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise DatasetError(f"{path}: 'names' must be a list of non-empty strings")
    if len(names) != info.count:
        raise DatasetError(f"{path}: {len(names)} names for {info.count} records in {info.file()}")
    return names
