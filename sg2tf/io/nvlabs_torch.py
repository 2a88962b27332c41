"""Import of stylegan2-ada-pytorch network pickles (`network-snapshot-*.pkl`).

Such a pickle is a dict `{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}` of
`torch_utils.persistence` objects: each module is pickled as
`_reconstruct_persistent_obj(meta)` with `meta = {type, version, module_src, class_name,
state}`, where `module_src` is the Python source of the module that defined the class.

Safety:
  * The pickle is read with `safe_pickle.RestrictedUnpickler` and a short allow-list:
    `_reconstruct_persistent_obj` resolves to an inert stub that only keeps `meta`
    (`module_src` is kept as a string and is NEVER executed or imported),
    `dnnlib.util.EasyDict` and `collections.OrderedDict` to plain dicts, and the
    tensor-rebuilding functions `torch._utils._rebuild_tensor_v2` / `_rebuild_parameter`
    (checked: no backward hooks). Every other global is refused before anything runs.
  * Tensor storages are embedded as `torch.storage._load_from_bytes(bytes)`; those bytes
    are read with `torch.load(..., weights_only=True)`, torch's own restricted loader.
  * The architecture is rebuilt from the stored `init_kwargs` (unknown kwargs are errors)
    and every tensor is copied by name with its shape checked, as for TF pickles.

Not covered: the torch port's skip discriminator does not clamp its 4x4 FromRGB output,
while sg2tf (like the TF original) does; with `conv_clamp` set and activations reaching
it (not the case at the usual 256) the logits of such a D differ slightly.

Needs torch (`pip install sg2tf[torch]`); it is imported only here.
"""

import io
import re

import numpy as np

from sg2tf.io import nvlabs_tf, safe_pickle
from sg2tf.io.nvlabs_tf import NetworkImportError
from sg2tf.networks.discriminator import Discriminator
from sg2tf.networks.generator import Generator


class PersistentObjectStub:
    """Inert stand-in for a `torch_utils.persistence` object: keeps its `meta` only."""

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise safe_pickle.UnsafePickleError("persistent object meta is not a dict")
        self.type = meta.get("type")
        self.version = meta.get("version")
        self.module_src = meta.get("module_src")  # Kept as text, never executed.
        self.class_name = meta.get("class_name")
        self.state = meta.get("state")
        if self.type != "class" or not isinstance(self.class_name, str) or not isinstance(self.state, dict):
            raise safe_pickle.UnsafePickleError(
                f"unexpected persistent object (type={self.type!r}, class_name={self.class_name!r})"
            )

    @property
    def init_kwargs(self):
        return dict(self.state.get("_init_kwargs") or {})

    def __repr__(self):
        return f"PersistentObjectStub({self.class_name!r})"


class TorchMissing(NetworkImportError, ImportError):
    """A stylegan2-ada-pytorch pickle, and no PyTorch to read its tensors with."""


def _import_torch(where="pickle"):
    try:
        import torch
    except ImportError:
        raise TorchMissing(
            f"{where}: a stylegan2-ada-pytorch pickle; reading it needs PyTorch: pip install 'sg2tf[torch]'"
        ) from None
    return torch


def _allowed(torch):
    from torch import _utils

    def load_from_bytes(data):
        if not isinstance(data, (bytes, bytearray)):
            raise safe_pickle.UnsafePickleError("torch storage payload is not bytes")
        return torch.load(io.BytesIO(bytes(data)), weights_only=True)

    def check_hooks(hooks):
        if hooks:
            raise safe_pickle.UnsafePickleError("tensors with backward hooks are refused")

    def rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
        check_hooks(backward_hooks)
        if not isinstance(storage, (torch.UntypedStorage, torch.TypedStorage)):
            raise safe_pickle.UnsafePickleError("tensor storage is not a torch storage")
        return _utils._rebuild_tensor_v2(storage, offset, size, stride, False, {})

    def rebuild_parameter(data, requires_grad=False, backward_hooks=None):
        check_hooks(backward_hooks)
        if not isinstance(data, torch.Tensor):
            raise safe_pickle.UnsafePickleError("parameter data is not a tensor")
        return data

    return {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObjectStub,
        ("dnnlib.util", "EasyDict"): safe_pickle.EasyDictStub,
        ("collections", "OrderedDict"): dict,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): load_from_bytes,
    }


def tensors_of(stub, torch, prefix=""):
    """Flattens a persistent module tree into `{'mapping.fc0.weight': float32 array}`."""
    out = {}
    state = stub.state
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise NetworkImportError(f"{prefix}{name}: not a tensor")
            out[prefix + name] = value.detach().to(torch.float32).numpy()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentObjectStub):
            raise NetworkImportError(f"{prefix}{name}: not a stylegan2-ada-pytorch module")
        out.update(tensors_of(child, torch, prefix + name + "."))
    return out


def _reader(kwargs, where):
    kwargs = dict(kwargs)
    known = set()

    def get(name, default=None):
        known.add(name)
        return kwargs.get(name, default)

    def finish(ignored=()):
        unknown = sorted(set(kwargs) - known - set(ignored))
        if unknown:
            raise NetworkImportError(f"{where}: unsupported init_kwargs {unknown}")

    return get, finish


def _resample(value, where):
    if value is None:  # The torch port reads None as a 1-tap filter, TF as [1, 1].
        raise NetworkImportError(f"{where}: resample_filter=None is not supported by sg2tf")
    return value


def _channel_table(channel_base, channel_max, resolution, with_d_head=False):
    log2 = int(np.log2(resolution))
    table = {2**i: min(int(channel_base) // 2**i, int(channel_max)) for i in range(2, log2 + 1)}
    if with_d_head:
        table[2] = table[4]  # The torch D's dense head is channels[4] wide.
    return dict(channels=dict(table=table))


def _tf_conv(a, flip=False):
    a = np.transpose(a, [2, 3, 1, 0])  # [out, in, kh, kw] -> [kh, kw, in, out]
    return np.ascontiguousarray(a[::-1, ::-1] if flip else a)


def _learned(t):
    """The `(name, array)` pairs of a network's tensors, without the fixed resampling filters."""
    return [(name, a) for name, a in t.items() if not name.endswith("resample_filter")]


def _mapping_param(name, a, dense_scope):
    """A torch mapping tensor (`mapping.embed.*`, `mapping.fcN.*`) -> `(TF scope/leaf, array)`,
    the dense layers in scopes `<dense_scope>N`; None for other tensors."""
    m = re.fullmatch(r"mapping\.(embed|fc(\d+))\.(weight|bias)", name)
    if not m:
        return None
    scope = "LabelEmbed" if m.group(1) == "embed" else f"{dense_scope}{m.group(2)}"
    return f"{scope}/{m.group(3)}", a.T if m.group(3) == "weight" else a


def _generator_params(t, where):
    """stylegan2-ada-pytorch G tensors -> the NVlabs TF variable names (legacy.py inverted)."""
    out = {}
    for name, a in _learned(t):
        mapped = _mapping_param(name, a, "Dense")
        if mapped:
            out[f"mapping/{mapped[0]}"] = mapped[1]
            continue
        if name == "mapping.w_avg":
            out["dlatent_avg"] = a
            continue
        if name == "synthesis.b4.const":
            out["synthesis/4x4/Const/const"] = a[np.newaxis]
            continue
        m = re.fullmatch(r"synthesis\.b(\d+)\.(conv0|conv1|torgb|skip)\.(.*)", name)
        if not m:
            raise NetworkImportError(f"{where}: tensor {name} not understood by sg2tf")
        res, layer, leaf = int(m.group(1)), m.group(2), m.group(3)
        log2 = int(np.log2(res))
        scope = (
            f"synthesis/{res}x{res}/"
            + {"conv0": "Conv0_up", "conv1": "Conv1" if res > 4 else "Conv", "torgb": "ToRGB", "skip": "Skip"}[layer]
        )
        if leaf == "weight":
            out[f"{scope}/weight"] = _tf_conv(a, flip=layer in ("conv0", "skip"))
        elif leaf == "bias" or leaf == "noise_strength":
            out[f"{scope}/{leaf}"] = a
        elif leaf == "affine.weight":
            out[f"{scope}/mod_weight"] = a.T
        elif leaf == "affine.bias":
            out[f"{scope}/mod_bias"] = a - 1  # TF stores it without the +1.
        elif leaf == "noise_const":
            idx = 0 if res == 4 else 2 * log2 - (5 if layer == "conv0" else 4)
            out[f"synthesis/noise{idx}"] = a[np.newaxis, np.newaxis]
        else:
            raise NetworkImportError(f"{where}: tensor {name} not understood by sg2tf")
    return out


def _discriminator_params(t, where):
    out = {}
    for name, a in _learned(t):
        mapped = _mapping_param(name, a, "Mapping")
        if mapped:
            out[mapped[0]] = mapped[1]
            continue
        m = re.fullmatch(r"b(\d+)\.(fromrgb|conv0|conv1|skip|conv|fc|out)\.(weight|bias)", name)
        if not m:
            raise NetworkImportError(f"{where}: tensor {name} not understood by sg2tf")
        res, layer, leaf = int(m.group(1)), m.group(2), m.group(3)
        scope = {
            "fromrgb": f"{res}x{res}/FromRGB",
            "conv0": f"{res}x{res}/Conv0",
            "conv1": f"{res}x{res}/Conv1_down",
            "skip": f"{res}x{res}/Skip",
            "conv": "4x4/Conv",
            "fc": "4x4/Dense0",
            "out": "Output",
        }[layer]
        if leaf == "weight":
            a = a.T if layer in ("fc", "out") else _tf_conv(a)
        out[f"{scope}/{leaf}"] = a
    return out


_G_IGNORED = {"channels_last", "fused_modconv_default"}


def generator_from_stub(stub, torch, where="G"):
    """Builds a `Generator` from a stylegan2-ada-pytorch `Generator` persistent object."""
    if stub.class_name != "Generator" or "synthesis" not in (stub.state.get("_modules") or {}):
        raise NetworkImportError(f"{where}: not a stylegan2-ada-pytorch Generator (class {stub.class_name!r})")
    return generator_from_tensors(stub.init_kwargs, tensors_of(stub, torch), where)


def generator_from_tensors(init_kwargs, tensors, where="G"):
    """Builds a `Generator` from a stylegan2-ada-pytorch Generator's `init_kwargs` and its
    `{torch name: array}` tensors (no torch needed)."""
    get, finish = _reader(init_kwargs, where)
    mget, mfinish = _reader(get("mapping_kwargs", {}), where + ".mapping_kwargs")
    sget, sfinish = _reader(get("synthesis_kwargs", {}), where + ".synthesis_kwargs")
    z_dim, c_dim, w_dim = int(get("z_dim")), int(get("c_dim", 0)), int(get("w_dim"))
    resolution, channels = int(get("img_resolution")), int(get("img_channels"))
    resample = _resample(sget("resample_filter", [1, 3, 3, 1]), where)
    G = Generator(
        z_dim=z_dim,
        c_dim=c_dim,
        w_dim=w_dim,
        img_resolution=resolution,
        img_channels=channels,
        mapping_kwargs=dict(
            num_layers=int(mget("num_layers", 8)),
            layer_features=mget("layer_features", None),
            embed_features=mget("embed_features", None) or w_dim,  # torch: None = w_dim.
            activation=mget("activation", "lrelu"),
            lr_multiplier=float(mget("lr_multiplier", 0.01)),
            w_avg_beta=mget("w_avg_beta", 0.995),
            label_mode="embed",
        ),
        synthesis_kwargs=dict(
            **_channel_table(sget("channel_base", 32768), sget("channel_max", 512), resolution),
            architecture=sget("architecture", "skip"),
            num_fp16_res=int(sget("num_fp16_res", 0)),
            conv_clamp=sget("conv_clamp", None),
            resample_filter=[float(v) for v in resample],
            use_noise=bool(sget("use_noise", True)),
            activation=sget("activation", "lrelu"),
        ),
        name="generator",
    )
    finish()
    mfinish()
    sfinish(_G_IGNORED)
    params = _generator_params(tensors, where)
    nvlabs_tf._assign(G, params, nvlabs_tf._generator_source_name, where)
    return G


def discriminator_from_stub(stub, torch, where="D"):
    """Builds a `Discriminator` from a stylegan2-ada-pytorch `Discriminator` object."""
    if stub.class_name != "Discriminator":
        raise NetworkImportError(f"{where}: not a stylegan2-ada-pytorch Discriminator (class {stub.class_name!r})")
    return discriminator_from_tensors(stub.init_kwargs, tensors_of(stub, torch), where)


def discriminator_from_tensors(init_kwargs, tensors, where="D"):
    """Builds a `Discriminator` from a stylegan2-ada-pytorch Discriminator's `init_kwargs` and
    its `{torch name: array}` tensors (no torch needed)."""
    get, finish = _reader(init_kwargs, where)
    bget, bfinish = _reader(get("block_kwargs", {}), where + ".block_kwargs")
    mget, mfinish = _reader(get("mapping_kwargs", {}), where + ".mapping_kwargs")
    eget, efinish = _reader(get("epilogue_kwargs", {}), where + ".epilogue_kwargs")
    resolution = int(get("img_resolution"))
    channel_base, channel_max = get("channel_base", 32768), get("channel_max", 512)
    cmap_dim = get("cmap_dim", None)
    if cmap_dim is None:
        cmap_dim = min(int(channel_base) // 4, int(channel_max))
    for key in ("embed_features", "layer_features"):
        value = mget(key, None)
        if value is not None and int(value) != int(cmap_dim):
            raise NetworkImportError(
                f"{where}: mapping_kwargs.{key}={value} != cmap_dim {cmap_dim} is not supported by sg2tf"
            )
    activation = bget("activation", "lrelu")
    for name, value in (
        ("mapping_kwargs.activation", mget("activation", "lrelu")),
        ("epilogue_kwargs.activation", eget("activation", "lrelu")),
    ):
        if value != activation:
            raise NetworkImportError(
                f"{where}: {name}={value!r} differs from the blocks' {activation!r}; not supported by sg2tf"
            )
    bget("freeze_layers", 0)  # Training only.
    resample = _resample(bget("resample_filter", [1, 3, 3, 1]), where)
    D = Discriminator(
        c_dim=int(get("c_dim", 0)),
        img_resolution=resolution,
        img_channels=int(get("img_channels")),
        **_channel_table(channel_base, channel_max, resolution, with_d_head=True),
        architecture=get("architecture", "resnet"),
        num_fp16_res=int(get("num_fp16_res", 0)),
        conv_clamp=get("conv_clamp", None),
        resample_filter=[float(v) for v in resample],
        activation=activation,
        mbstd_group_size=eget("mbstd_group_size", 4),
        mbstd_num_channels=int(eget("mbstd_num_channels", 1)),
        conditioning="cmap",
        cmap_dim=int(cmap_dim),
        mapping_layers=int(mget("num_layers", 8)),
        mapping_lr_multiplier=float(mget("lr_multiplier", 0.01)),
        name="discriminator",
    )
    finish()
    bfinish(_G_IGNORED)
    mfinish()
    efinish()
    params = _discriminator_params(tensors, where)
    nvlabs_tf._assign(D, params, nvlabs_tf._discriminator_source_name, where)
    return D


def read_torch_pickle(data, where="pickle"):
    """Unpickles stylegan2-ada-pytorch pickle bytes with the restricted allow-list."""
    torch = _import_torch(where)
    obj = safe_pickle.RestrictedUnpickler(io.BytesIO(data), extra_allowed=_allowed(torch)).load()
    return obj, torch


def load_torch_pickle(data, where="pickle"):
    """Converts stylegan2-ada-pytorch pickle bytes into `{'G', 'D', 'G_ema'}` models."""
    obj, torch = read_torch_pickle(data, where)
    if not isinstance(obj, dict) or not any(k in obj for k in ("G", "D", "G_ema")):
        raise NetworkImportError(
            f"{where}: not a stylegan2-ada-pytorch network pickle (expected a dict with G, D, G_ema)"
        )
    out = {}
    for key, build in (("G", generator_from_stub), ("D", discriminator_from_stub), ("G_ema", generator_from_stub)):
        stub = obj.get(key)
        if stub is None:
            out[key] = None
            continue
        if not isinstance(stub, PersistentObjectStub):
            raise NetworkImportError(f"{where}: {key} is not a persistent network object")
        try:
            out[key] = build(stub, torch, key)
        except NetworkImportError as e:
            raise NetworkImportError(f"{where}: {e}") from None
    return out
