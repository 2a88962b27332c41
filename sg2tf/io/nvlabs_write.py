"""Export to NVlabs TensorFlow 1 network pickles, the format the StyleGAN2 world reads.

`save_nvlabs_pickle(path, networks)` writes G, D and G_ema as the originals' training code
does: a pickled `(G, D, Gs)` tuple of `dnnlib.tflib.network.Network` states (`version`,
`name`, `static_kwargs`, `components`, `build_module_src`, `build_func_name`, `variables`),
in one of two kinds:

  * `stylegan2`: state version 4, `G_main` / `G_mapping` / `G_synthesis_stylegan2`,
    `D_stylegan2` (NVlabs StyleGAN2; label concatenation and the projection D);
  * `ada`: state version 5, `G_main` / `G_mapping` / `G_synthesis` / `D_main`
    (StyleGAN2-ADA TF; label embeddings, float16 blocks, conv_clamp).

Variables carry the original names, shapes and dtypes (the names are those `nvlabs_tf`
reads, inverted); `static_kwargs` holds each setting that differs from a reader's default
(the original's or stylegan2-ada-pytorch's `legacy.py`). `build_module_src` is a two-line
import of the original's network module: `legacy.py` ignores it, and TF1 code run from its
own checkout finds the build functions there. A network no original can express (an
sg2tf-only option, a channel table no `fmap_*` setting reproduces) is refused with a message
naming the setting, before anything is written; the file appears atomically.

The style biases are the one lossy part: TF stores them without the `+1` sg2tf keeps in them,
as float32, so a bias below 0.5 comes back within half a float32 step of `bias - 1` (at least
0.5, `bias - 1` is exact in float32 and the round trip bit for bit).
"""

import copyreg
import dataclasses
import importlib.util
import io
import os
import pickle
import re
import sys

import numpy as np

from sg2tf.errors import UserError
from sg2tf.io import nvlabs_tf, safe_pickle
from sg2tf.networks.channels import ChannelSpec
from sg2tf.utils.atomic import atomic_file

__all__ = [
    "FORMATS",
    "ExportInfo",
    "NetworkExportError",
    "choose_format",
    "nvlabs_states",
    "save_nvlabs_pickle",
    "save_pytorch_pickle",
]

FORMATS = ("stylegan2", "ada")
TITLES = {"stylegan2": "NVlabs StyleGAN2 (TF, state version 4)", "ada": "StyleGAN2-ADA TF (state version 5)"}
_VERSION = {"stylegan2": 4, "ada": 5}
_FLAVOR = {"stylegan2": "sg2", "ada": "ada"}  # nvlabs_tf's names of the two kinds
_MODULE = {"stylegan2": "training.networks_stylegan2", "ada": "training.networks"}  # where each original keeps them
# Reader defaults the writer compares with: a kwarg equal to all of them is left out.
_FILTER = [1, 3, 3, 1]
# The kwargs stylegan2-ada-pytorch's legacy.py converts; any other kwarg makes it refuse the pickle.
_LEGACY_G_KWARGS = set(
    "latent_size label_size dlatent_size resolution num_channels mapping_layers label_fmaps mapping_fmaps "
    "mapping_nonlinearity mapping_lrmul w_avg_beta fmap_base fmap_max num_fp16_res conv_clamp architecture "
    "resample_kernel use_noise nonlinearity truncation_psi truncation_cutoff style_mixing_prob structure".split()
)
_LEGACY_D_KWARGS = set(
    "label_size resolution num_channels architecture fmap_base fmap_max num_fp16_res conv_clamp mapping_fmaps "
    "nonlinearity resample_kernel freeze_layers mapping_layers mapping_lrmul mbstd_group_size mbstd_num_features "
    "structure".split()
)
# The settings of sg2tf's configs the writer knows; a new one must be taught here, not dropped.
_KNOWN_G = {"name", "z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs", "synthesis_kwargs"}
_KNOWN_MAPPING = set(
    "num_layers layer_features embed_features activation lr_multiplier w_avg_beta label_mode normalize_z".split()
)
_KNOWN_SYNTHESIS = set(
    "channels architecture num_fp16_res low_precision conv_clamp resample_filter activation use_noise fused_modconv "
    "input_mode const_channels base_shape".split()
)
_KNOWN_D = set(
    "name c_dim img_resolution img_channels channels architecture num_fp16_res low_precision conv_clamp "
    "resample_filter activation mbstd_group_size mbstd_num_channels conditioning cmap_dim mapping_layers "
    "mapping_lr_multiplier base_shape".split()
)


class NetworkExportError(UserError, ValueError):
    """A network the NVlabs format cannot hold; the message names the setting."""


@dataclasses.dataclass
class ExportInfo:
    """What `save_nvlabs_pickle` wrote: the `format`, why it was chosen (`reason`), and why
    stylegan2-ada-pytorch's `legacy.py` cannot read it (`legacy_problems`, empty if it can)."""

    path: str
    format: str
    reason: str
    legacy_problems: list


# ------------------------------------------------------------------ static kwargs


def _put(kwargs, key, value, *defaults):
    """Writes `key` unless `value` is every reader's default."""
    if any(value != d for d in defaults):
        kwargs[key] = value


def _plain(value):
    """Integral floats as ints (as the originals' configs write them)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _square_only(net, where, problems):
    # The originals build every layer from one `resolution` (4x4 constant and epilogue, square
    # noise inputs and dataset records); no reader of theirs takes a non-square network.
    if not net.is_square:
        h, w = net.img_shape
        problems.append(
            f"{where}: a non-square network (base_shape={list(net.base_shape)}, {w}x{h} images): the NVlabs "
            "originals build square networks only; keep its sg2tf snapshot or export a SavedModel"
        )


def _unknown_settings(config, known, where, problems):
    for key in sorted(set(config) - known):
        problems.append(f"{where}: setting {key!r} has no NVlabs counterpart known to this writer")


def _fit_channels(spec, wanted):
    """`fmap_base`, `fmap_decay`, `fmap_min`, `fmap_max` whose `nf(stage)` gives `wanted`
    (`{resolution: channels}`), the network's own first, else None."""
    stages = {int(np.log2(res)) - 1: ch for res, ch in wanted.items()}
    values = list(stages.values())
    bases = [spec.fmap_base, 16384] + sorted({ch * 2**s for s, ch in stages.items()})
    for decay in dict.fromkeys([spec.fmap_decay, 1.0]):
        for fmin in dict.fromkeys([1, spec.fmap_min, min(values)]):
            for fmax in dict.fromkeys([spec.fmap_max, 512, max(values)]):
                for base in bases if decay == 1.0 else [spec.fmap_base]:
                    fit = ChannelSpec(base, decay, fmin, fmax)
                    if all(fit.nf(s) == ch for s, ch in stages.items()):
                        return fit
    return None


def _channel_kwargs(spec, resolutions, where, problems):
    """The `fmap_*` kwargs of a network whose resolutions `resolutions` have `spec`'s channels;
    a problem when no `fmap_*` setting gives them (the originals compute every width as
    nf(stage): an explicit table must be one of those)."""
    wanted = {res: spec(res) for res in resolutions}
    fit = _fit_channels(spec, wanted)
    if fit is None:
        table = ",".join(f"{r}:{c}" for r, c in sorted(wanted.items()))
        problems.append(f"{where}: channels {table}: no fmap_base/fmap_decay/fmap_min/fmap_max setting gives them")
        return {}
    kwargs = {}
    _put(kwargs, "fmap_base", fit.fmap_base, 16384)
    _put(kwargs, "fmap_decay", _plain(fit.fmap_decay), 1)
    _put(kwargs, "fmap_min", fit.fmap_min, 1)
    _put(kwargs, "fmap_max", fit.fmap_max, 512)
    return kwargs


def _precision_kwargs(net, fmt, where, problems):
    """`num_fp16_res` and `conv_clamp`: StyleGAN2-ADA's; sg2tf's bfloat16 has no counterpart."""
    kwargs = {}
    if net.num_fp16_res and net.low_precision != "float16":
        problems.append(f"{where}: low_precision={net.low_precision!r} (the originals compute in float16)")
    if fmt == "stylegan2":
        for key in ("num_fp16_res", "conv_clamp"):
            if getattr(net, key):
                problems.append(f"{where}: {key}={_plain(getattr(net, key))} needs --format=ada")
    else:
        _put(kwargs, "num_fp16_res", net.num_fp16_res, 0)
        _put(kwargs, "conv_clamp", None if net.conv_clamp is None else _plain(net.conv_clamp), None)
    return kwargs


def _common_kwargs(net):
    """The kwargs every NVlabs network starts with (the training loops pass them)."""
    return dict(num_channels=net.img_channels, resolution=net.img_resolution, label_size=net.c_dim)


def _resolutions(resolution, lowest):
    return [2**i for i in range(int(np.log2(lowest)), int(np.log2(resolution)) + 1)]


def generator_kwargs(G, fmt, where="G", problems=None):
    """The `G_main` static kwargs of generator `G` in format `fmt`; what cannot be expressed is
    appended to `problems` (raised as `NetworkExportError` when `problems` is None)."""
    raise_now = problems is None
    problems = [] if raise_now else problems
    config = G.get_config()
    _unknown_settings(config, _KNOWN_G, where, problems)
    _unknown_settings(config["mapping_kwargs"], _KNOWN_MAPPING, where, problems)
    _unknown_settings(config["synthesis_kwargs"], _KNOWN_SYNTHESIS, where, problems)
    m, s = G.mapping, G.synthesis
    _square_only(s, where, problems)
    kw = _common_kwargs(G)
    _put(kw, "latent_size", G.z_dim, 512)
    _put(kw, "dlatent_size", G.w_dim, 512)
    _put(kw, "mapping_layers", m.num_layers, 8)
    # StyleGAN2's hidden width defaults to 512, StyleGAN2-ADA's (and legacy.py's) to w_dim.
    _put(kw, "mapping_fmaps", m.layer_features, G.w_dim, *([512] if fmt == "stylegan2" else []))
    _put(kw, "mapping_lrmul", m.lr_multiplier, 0.01)
    _put(kw, "mapping_nonlinearity", m.activation, "lrelu")
    if G.c_dim:
        wanted = {"stylegan2": "concat", "ada": "embed"}[fmt]
        if m.label_mode != wanted:
            problems.append(f"{where}: label_mode={m.label_mode!r} needs --format={_other(fmt)}")
        if fmt == "ada":
            _put(kw, "label_fmaps", m.embed_features, G.z_dim, G.w_dim)  # TF's default, legacy.py's
            if not m.normalize_z:
                problems.append(f"{where}: normalize_z=False (StyleGAN2-ADA normalizes the embedded label always)")
    _put(kw, "normalize_latents", m.normalize_z, True)
    _put(kw, "w_avg_beta", 1.0 if m.w_avg_beta is None else m.w_avg_beta, 0.995)  # 1: w_avg kept as it is
    if s.input_mode != "const":
        problems.append(f"{where}: input_mode={s.input_mode!r} (only a learned constant is in the NVlabs originals)")
    if s.const_channels and s.const_channels != s.channels(4):
        if fmt == "ada":
            kw["fmap_const"] = s.const_channels
        else:
            problems.append(f"{where}: const_channels={s.const_channels} needs --format=ada (its fmap_const)")
    kw.update(_channel_kwargs(s.channels, _resolutions(G.img_resolution, 4), where, problems))
    _put(kw, "architecture", s.architecture, "skip")
    _put(kw, "nonlinearity", s.activation, "lrelu")
    _put(kw, "resample_kernel", None if s.resample_filter is None else [_plain(v) for v in s.resample_filter], _FILTER)
    if fmt == "stylegan2" and not s.use_noise:
        problems.append(f"{where}: use_noise=False needs --format=ada")
    if fmt == "ada":
        _put(kw, "use_noise", s.use_noise, True)
    kw.update(_precision_kwargs(s, fmt, where, problems))
    if raise_now:
        _raise(problems, fmt)
    return kw


def discriminator_kwargs(D, fmt, where="D", problems=None):
    """The static kwargs of discriminator `D` in format `fmt` (see `generator_kwargs`)."""
    raise_now = problems is None
    problems = [] if raise_now else problems
    _unknown_settings(D.get_config(), _KNOWN_D, where, problems)
    _square_only(D, where, problems)
    kw = _common_kwargs(D)
    kw.update(_channel_kwargs(D.channels, _resolutions(D.img_resolution, 2), where, problems))
    _put(kw, "architecture", D.architecture, "resnet")
    _put(kw, "nonlinearity", D.activation, "lrelu")
    _put(kw, "resample_kernel", None if D.resample_filter is None else [_plain(v) for v in D.resample_filter], _FILTER)
    group, features = D.mbstd_group_size, D.mbstd_num_channels
    if fmt == "stylegan2":
        # StyleGAN2 defaults to groups of 4 (legacy.py to the whole batch) and turns the layer off below 2;
        # legacy.py turns it off only without features, so an off layer is written both ways.
        if features == 0:
            kw.update(mbstd_group_size=0, mbstd_num_features=0)
        elif group is None or group < 2:
            problems.append(f"{where}: mbstd_group_size={group} needs --format=ada")
        else:
            kw["mbstd_group_size"] = group
            _put(kw, "mbstd_num_features", features, 1)
    else:
        _put(kw, "mbstd_group_size", group, None)
        _put(kw, "mbstd_num_features", features, 1)
    kw.update(_precision_kwargs(D, fmt, where, problems))
    if D.c_dim:
        wanted = {"stylegan2": "project", "ada": "cmap"}[fmt]
        if D.conditioning != wanted:
            problems.append(f"{where}: conditioning={D.conditioning!r} needs --format={_other(fmt)}")
        if fmt == "ada":
            _put(kw, "mapping_layers", D.mapping_layers, 0)
            _put(kw, "mapping_fmaps", D.cmap_dim, D.channels(2), D.channels(4))  # TF's default, legacy.py's
            _put(kw, "mapping_lrmul", D.mapping_lr_multiplier, 0.1)
    if raise_now:
        _raise(problems, fmt)
    return kw


def _other(fmt):
    return "ada" if fmt == "stylegan2" else "stylegan2"


def _raise(problems, fmt=None):
    if problems:
        kind = f"a {TITLES[fmt]}" if fmt else "an NVlabs"
        raise NetworkExportError(f"cannot write {kind} pickle: " + "; ".join(dict.fromkeys(problems)))


def _problems(G, D, G_ema, fmt):
    """What format `fmt` cannot express, one entry per setting (`G, G_ema: ...` when both)."""
    found = {}
    for where, net in (("G", G), ("G_ema", G_ema)):
        problems = []
        generator_kwargs(net, fmt, where, problems)
        for problem in problems:
            found.setdefault(problem.split(": ", 1)[1], []).append(where)
    problems = [f"{', '.join(dict.fromkeys(wheres))}: {what}" for what, wheres in found.items()]
    discriminator_kwargs(D, fmt, "D", problems)
    return list(dict.fromkeys(problems))


def choose_format(G, D, G_ema):
    """The kind the networks are closest to, and why: `('stylegan2'|'ada', reason)`.

    StyleGAN2-ADA when they use one of its features (float16 blocks, conv_clamp, label
    embeddings, ...), StyleGAN2 when they use one of its own (label concatenation, the
    projection D), and StyleGAN2 when neither (its version-4 pickles are the most widely read).
    Raises `NetworkExportError` when neither kind can hold them.
    """
    found = {fmt: _problems(G, D, G_ema, fmt) for fmt in FORMATS}
    for fmt in FORMATS:
        if not found[fmt]:
            other = found[_other(fmt)]
            return fmt, other[0] if other else "nothing in it needs --format=ada, and StyleGAN2's kind is read widest"
    common = [p for p in found["ada"] if p in found["stylegan2"]]
    _raise(common or found["stylegan2"] + found["ada"])  # what no kind holds, or what each kind lacks


# ------------------------------------------------------------------ variables


def _tf_value(name, value):
    """Our array -> the NVlabs variable `name` (the inverse of `nvlabs_tf`'s transforms)."""
    if name.endswith("/Const/const"):
        return np.transpose(value, [2, 0, 1])[np.newaxis]
    if re.fullmatch(r"synthesis/noise\d+", name):
        return value[np.newaxis, np.newaxis]
    if name.endswith("/mod_bias"):
        return value - np.float32(1)  # TF adds the 1 at run time
    return value


def _variables(model, source_name, where):
    """`{NVlabs name: float32 array}` of `model`'s variables, named as `nvlabs_tf` reads them."""
    out = {}
    for var in model.weights:
        path = var.path.split("/", 1)[1]
        name, transform = source_name(path)
        if name is None:
            raise NetworkExportError(f"{where}: variable {path} has no NVlabs name")
        value = np.asarray(var.numpy(), np.float32)
        stored = np.array(_tf_value(name, value), np.float32, order="C")
        if np.shape(transform(stored)) != value.shape:  # the reader's transform must undo ours
            raise AssertionError(f"{where}: {name} does not read back as {path}")
        out[name] = stored
    return out


# The order in which the originals create the variables (the order of their pickles).
_G_SCOPES = ["Const", "Conv", "Conv0_up", "Conv1", "Skip", "ToRGB"]
_D_SCOPES = ["FromRGB", "Conv0", "Conv1_down", "Skip", "Conv", "Dense0"]
_LEAVES = ["const", "weight", "mod_weight", "mod_bias", "noise_strength", "bias"]
_FIRST = ["lod", "dlatent_avg", "LabelConcat", "LabelEmbed"]


def _order(name, scopes, descending):
    """A sort key for the originals' creation order: the label layers (and G_main's own
    variables), numbered layers (noiseK, DenseK, MappingK), resolutions (G ascending, D
    descending), then D's output."""
    parts = name.split("/")
    leaf = _LEAVES.index(parts[-1]) if len(parts) > 1 else 0
    m = re.fullmatch(r"(\d+)x\d+", parts[0])
    if m:
        res = int(m.group(1))
        return (2, -res if descending else res, scopes.index(parts[1]), leaf)
    m = re.fullmatch(r"(?:noise|Dense|Mapping)(\d+)", parts[0])
    if m:
        return (1, int(m.group(1)), 0, leaf)
    return (3, 0, 0, leaf) if parts[0] == "Output" else (0, _FIRST.index(parts[0]), 0, leaf)


def _sorted(variables, scopes=_G_SCOPES, descending=False):
    names = sorted(variables, key=lambda name: _order(name, scopes, descending))
    return [(name, variables[name]) for name in names]


# ------------------------------------------------------------------ network states


class _NetworkState:
    """Pickles as a `dnnlib.tflib.network.Network` holding `state` (see `_Pickler`)."""

    def __init__(self, state):
        self.state = state

    def __reduce__(self):
        return copyreg.__newobj__, (type(self),), self.state


def _state(fmt, name, func, kwargs, variables, components=None, inputs_outputs=None):
    funcs = ["G_main", "G_mapping", _synthesis_func(fmt), _d_func(fmt)]
    state = {
        "version": _VERSION[fmt],
        "name": name,
        "static_kwargs": kwargs,
        "components": dict(components or {}),
        "build_module_src": f"# Written by sg2tf: the original's own networks, from its checkout.\n"
        f"from {_MODULE[fmt]} import {', '.join(funcs)}\n",
        "build_func_name": func,
        "variables": variables,
    }
    if _VERSION[fmt] >= 5:  # StyleGAN2-ADA records the inputs and outputs of the template graph
        (in_names, in_shapes), (out_names, out_shapes) = inputs_outputs
        state.update(input_shapes=in_shapes, output_shapes=out_shapes, input_names=in_names, output_names=out_names)
    return _NetworkState(state)


def _synthesis_func(fmt):
    return {v: k for k, v in nvlabs_tf.G_SYNTHESIS_FUNCS.items()}[_FLAVOR[fmt]]


def _d_func(fmt):
    return {v: k for k, v in nvlabs_tf.D_FUNCS.items()}[_FLAVOR[fmt]]


def _part(params, prefix):
    """The variables below `prefix` (a component's), named relative to it."""
    return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}


def _generator_state(G, fmt, name, kwargs):
    params = _variables(G, nvlabs_tf._generator_source_name, name)
    own = {k: v for k, v in params.items() if "/" not in k}
    if fmt == "stylegan2":
        own["lod"] = np.zeros([], np.float32)  # StyleGAN2's G_main keeps a level of detail, always 0
    sub_kwargs = {k: v for k, v in kwargs.items() if k not in ("truncation_psi", "truncation_cutoff")}
    z, c, w = [None, G.z_dim], [None, G.c_dim], [None, G.num_ws, G.w_dim]
    images = [None, G.img_channels, G.img_resolution, G.img_resolution]
    synthesis = _state(
        fmt, "G_synthesis", _synthesis_func(fmt), dict(sub_kwargs), _sorted(_part(params, "synthesis/")), None,
        ((["dlatents_in"], [w]), (["images_out"], [images])),
    )  # fmt: skip
    mapping_kwargs = {"dlatent_broadcast": G.num_ws, **sub_kwargs}  # first, as G_main passes it
    mapping = _state(
        fmt, "G_mapping", "G_mapping", mapping_kwargs, _sorted(_part(params, "mapping/")), None,
        ((["latents_in", "labels_in"], [z, c]), (["dlatents_out"], [w])),
    )  # fmt: skip
    return _state(
        fmt, name, "G_main", kwargs, _sorted(own), {"synthesis": synthesis, "mapping": mapping},
        ((["latents_in", "labels_in"], [z, c]), (["images_out"], [images])),
    )  # fmt: skip


def nvlabs_states(G, D, G_ema, fmt, truncation_psi=None, truncation_cutoff=None):
    """The `(G, D, Gs)` network states of the pickle (objects that pickle as dnnlib Networks).

    Raises `NetworkExportError` naming each setting format `fmt` cannot express.
    """
    if fmt not in FORMATS:
        raise NetworkExportError(f"unknown NVlabs format {fmt!r}; expected one of {FORMATS}")
    _raise(_problems(G, D, G_ema, fmt), fmt)
    truncation = {}
    if truncation_psi is not None:
        truncation["truncation_psi"] = float(truncation_psi)
    if truncation_cutoff is not None:
        truncation["truncation_cutoff"] = int(truncation_cutoff)
    states = []
    for name, net in (("G", G), ("Gs", G_ema)):
        states.append(_generator_state(net, fmt, name, {**generator_kwargs(net, fmt, name), **truncation}))
    d_kwargs = discriminator_kwargs(D, fmt)
    images = [None, D.img_channels, D.img_resolution, D.img_resolution]
    d_io = ((["images_in", "labels_in"], [images, [None, D.c_dim]]), (["scores_out"], [[None, 1]]))
    params = _variables(D, nvlabs_tf._discriminator_source_name, "D")
    D_state = _state(fmt, "D", _d_func(fmt), d_kwargs, _sorted(params, _D_SCOPES, descending=True), None, d_io)
    return states[0], D_state, states[1]


# ------------------------------------------------------------------ pickling


class _Pickler(pickle._Pickler):
    """A pickler that spells two globals as the originals' readers resolve them: the network
    stand-in as `dnnlib.tflib.network.Network`, and numpy's array constructor by its numpy-1
    name `numpy.core.multiarray._reconstruct` (numpy 2 writes `numpy._core`, which the numpy 1
    of TF1 environments cannot import). Everything else pickles as usual."""

    GLOBALS = {
        _NetworkState: ("dnnlib.tflib.network", "Network"),
        safe_pickle._numpy_global("numpy.core.multiarray", "_reconstruct"): ("numpy.core.multiarray", "_reconstruct"),
    }

    def save_global(self, obj, name=None):
        spelled = self.GLOBALS.get(obj)
        if spelled is None:
            return super().save_global(obj, name)
        for part in spelled:
            self.save(part)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)


def dump(states, file):
    """Pickles the `(G, D, Gs)` states to binary `file` (protocol 4, as the originals' files)."""
    _Pickler(file, protocol=4).dump(tuple(states))


def _unpack(networks):
    if isinstance(networks, dict):
        nets = {k: networks.get(k) for k in ("G", "D", "G_ema")}
    else:
        nets = dict(zip(("G", "D", "G_ema"), networks))
    missing = [k for k, v in nets.items() if v is None]
    if missing:
        where = getattr(networks, "source", "")  # a `Networks` names its file
        raise NetworkExportError(
            f"{where}{': ' if where else ''}has no {' or '.join(missing)}; an NVlabs pickle holds G, D and G_ema"
        )
    return nets["G"], nets["D"], nets["G_ema"]


def _kwargs_spec(kwargs):
    """The `ChannelSpec` of a network's static kwargs (the originals' defaults)."""
    names = (("fmap_base", 16384), ("fmap_decay", 1), ("fmap_min", 1), ("fmap_max", 512))
    return ChannelSpec(*(kwargs.get(key, default) for key, default in names))


def legacy_problems(states):
    """Why stylegan2-ada-pytorch's `legacy.py` cannot convert these states (empty: it can)."""
    G, D, _ = states
    problems = []
    for state, known in ((G.state, _LEGACY_G_KWARGS), (D.state, _LEGACY_D_KWARGS)):
        for key in sorted(set(state["static_kwargs"]) - known):
            problems.append(f"{state['name']}: kwarg {key!r} is unknown to it")
        # Its channel rule is min(2 * fmap_base // res, fmap_max).
        spec = _kwargs_spec(state["static_kwargs"])
        for res in _resolutions(state["static_kwargs"]["resolution"], 4):
            if spec(res) != min(2 * spec.fmap_base // res, spec.fmap_max):
                problems.append(f"{state['name']}: its channel rule gives another width at {res}x{res}")
                break
    if "LabelConcat/weight" in dict(G.state["components"]["mapping"].state["variables"]):
        problems.append("G: it builds a label embedding, not StyleGAN2's label concatenation")
    if D.state["static_kwargs"]["label_size"] and "LabelEmbed/weight" not in dict(D.state["variables"]):
        problems.append("D: it builds a label embedding, not StyleGAN2's projection")
    spec = _kwargs_spec(D.state["static_kwargs"])
    if spec(2) != spec(4):
        problems.append(f"D: its last dense layer has the 4x4 width {spec(4)}, not nf(0)={spec(2)}")
    return problems


def save_nvlabs_pickle(path, networks, format=None, truncation_psi=None, truncation_cutoff=None):
    """Writes `networks` (G, D, G_ema: a `Networks`, dict or tuple) as an NVlabs TF1 pickle.

    Args:
      path: the output file (written atomically).
      networks: the three networks; all must be present.
      format: 'stylegan2' (state version 4), 'ada' (version 5), or None/'auto' for the kind
        the networks are closest to (`choose_format`).
      truncation_psi, truncation_cutoff: stored in G_main's kwargs (the TF1 code's default
        truncation when a script passes none; its own default is psi 0.5).

    Returns:
      `ExportInfo`. Raises `NetworkExportError` (nothing written) for what the format cannot hold.
    """
    states, info = _states_and_info(path, networks, format, truncation_psi, truncation_cutoff)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        dump(states, f)
    return info


def _states_and_info(path, networks, format, truncation_psi=None, truncation_cutoff=None):
    G, D, G_ema = _unpack(networks)
    if format in (None, "auto"):
        format, reason = choose_format(G, D, G_ema)
    else:
        reason = "--format"
    states = nvlabs_states(G, D, G_ema, format, truncation_psi, truncation_cutoff)
    return states, ExportInfo(str(path), format, reason, legacy_problems(states))


def save_pytorch_pickle(path, networks, checkout, format=None):
    """Writes `networks` as a native stylegan2-ada-pytorch pickle: their NVlabs pickle, converted
    in this process by the `legacy.load_network_pkl` of the stylegan2-ada-pytorch checkout
    `checkout` and pickled as its `legacy.py --dest` does. The classes, and the source code their
    pickles carry, are the checkout's. Needs PyTorch (and click, which legacy.py imports).

    Returns `ExportInfo`; raises `NetworkExportError` (nothing written) when the checkout is not
    one, PyTorch is missing, or legacy.py cannot convert the networks (the reason named).
    """
    checkout = os.path.abspath(os.path.expanduser(os.fspath(checkout)))
    if not os.path.isfile(os.path.join(checkout, "legacy.py")):
        raise NetworkExportError(f"{checkout}: no legacy.py; --checkout must be a stylegan2-ada-pytorch checkout")
    states, info = _states_and_info(path, networks, format)
    if info.legacy_problems:
        raise NetworkExportError(
            f"stylegan2-ada-pytorch's legacy.py cannot convert it: {'; '.join(info.legacy_problems)}"
        )
    buffer = io.BytesIO()
    dump(states, buffer)
    buffer.seek(0)
    if checkout not in sys.path:
        sys.path.insert(0, checkout)  # its dnnlib, torch_utils and training, as its own scripts see them
    spec = importlib.util.spec_from_file_location("legacy", os.path.join(checkout, "legacy.py"))
    legacy = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(legacy)
    except ImportError as e:
        raise NetworkExportError(
            f"{checkout}/legacy.py: cannot import it ({e}); pip install 'sg2tf[torch]' click"
        ) from None
    data = legacy.load_network_pkl(buffer)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(data, f)
    return info
