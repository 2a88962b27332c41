"""`load_network`: one entry point for every network file sg2tf reads."""

import dataclasses
import io
import os
import pickle

import tensorflow as tf

from sg2tf.io import nvlabs_tf, nvlabs_torch, safe_pickle, snapshot
from sg2tf.io.nvlabs_tf import NetworkImportError

__all__ = ["NetworkFileMissing", "Networks", "load_network"]


class NetworkFileMissing(NetworkImportError, FileNotFoundError):
    """A network file (or a part of a snapshot) that does not exist."""


@dataclasses.dataclass
class Networks:
    """The networks of a file: `G`, `D`, `G_ema` (any may be None), and metadata.

    Unpacks as `G, D, G_ema = load_network(path)` and indexes as `nets['G_ema']`.
    """

    G: object = None
    D: object = None
    G_ema: object = None
    metadata: dict = dataclasses.field(default_factory=dict)
    source: str = ""

    def __iter__(self):
        return iter((self.G, self.D, self.G_ema))

    def __getitem__(self, key):
        if key not in ("G", "D", "G_ema"):
            raise KeyError(key)
        return getattr(self, key)

    @property
    def generator(self):
        """G_ema when present (the one to sample from), else G."""
        return self.G_ema if self.G_ema is not None else self.G


def _read_bytes(path):
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except tf.errors.NotFoundError:
        raise NetworkFileMissing(f"{path}: no such network file") from None


def load_network(path):
    """Loads the networks stored at `path`.

    Accepts an NVlabs TF1 pickle (StyleGAN2 / StyleGAN2-ADA TF), a stylegan2-ada-pytorch
    pickle (with the `torch` extra), or a native sg2tf snapshot directory. Pickles
    are read with a restricted unpickler that executes nothing they contain.

    Returns:
      `Networks` with `G`, `D` and `G_ema`.
    """
    path = os.fspath(path)
    if snapshot.is_snapshot(path):
        try:
            nets, metadata = snapshot.load_snapshot(path)
        except FileNotFoundError as e:
            raise NetworkFileMissing(str(e)) from None
        return Networks(nets.get("G"), nets.get("D"), nets.get("G_ema"), metadata, path)
    if tf.io.gfile.isdir(path):
        raise NetworkImportError(f"{path}: a directory, but not an sg2tf snapshot (no {snapshot.INDEX})")
    data = _read_bytes(path)
    if data[:1] != b"\x80" and data[:2] != b"(d" and data[:1] != b"}":
        raise NetworkImportError(f"{path}: not a network pickle or sg2tf snapshot")
    try:
        obj = safe_pickle.load(io.BytesIO(data))
    except safe_pickle.UnsafePickleError as e:
        if "torch_utils" in str(e) or "'torch." in str(e):
            nets = nvlabs_torch.load_torch_pickle(data, where=path)
            return Networks(nets["G"], nets["D"], nets["G_ema"], {}, path)
        raise safe_pickle.UnsafePickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as e:
        raise NetworkImportError(f"{path}: damaged or unsupported pickle ({type(e).__name__}: {e})") from None
    try:
        nets = nvlabs_tf.load_tf_pickle(obj)
    except nvlabs_tf.NetworkImportError as e:
        raise nvlabs_tf.NetworkImportError(f"{path}: {e}") from None
    return Networks(nets["G"], nets["D"], nets["G_ema"], {}, path)
