"""Import of NVlabs TensorFlow 1 network pickles (StyleGAN2 and StyleGAN2-ADA TF).

A pickle holds `(G, D, Gs)`, each a `dnnlib.tflib.network.Network` state: its
`static_kwargs` (the constructor arguments), its variables as numpy arrays, and its
sub-networks (`mapping`, `synthesis`). State version 4 is StyleGAN2, version 5
StyleGAN2-ADA TF; the build function names tell the two architectures apart
(their defaults and label handling differ).

Nothing from the pickle is executed: it is read with `safe_pickle`, the
architecture is rebuilt from the kwargs, and every variable is copied by name
with its shape checked. Unknown kwargs, unknown variables, missing variables and
shape mismatches are errors that name the variable.
"""

import re

import numpy as np

from sg2tf.errors import UserError
from sg2tf.io import safe_pickle
from sg2tf.networks.discriminator import Discriminator
from sg2tf.networks.generator import Generator


class NetworkImportError(UserError, ValueError):
    """A network file cannot be converted; the message says what and where."""


G_SYNTHESIS_FUNCS = {"G_synthesis_stylegan2": "sg2", "G_synthesis": "ada"}
D_FUNCS = {"D_stylegan2": "sg2", "D_main": "ada"}

# Kwargs that only affect training or graph building in the original code.
_G_IGNORED = {
    "truncation_psi",
    "truncation_cutoff",
    "truncation_psi_val",
    "truncation_cutoff_val",
    "style_mixing_prob",
    "structure",
    "randomize_noise",
    "fused_modconv",
    "is_template_graph",
    "is_training",
    "is_validation",
    "return_dlatents",
    "force_clean_graph",
    "mapping_func",
    "synthesis_func",
}
_D_IGNORED = {"structure", "freeze_layers", "augment_strength", "is_template_graph", "pagan_num", "pagan_fade"}
# Kwargs that select features sg2tf does not implement: accepted at their defaults.
_D_UNSUPPORTED = {
    "use_pagan": False,
    "score_size": 1,
    "score_max": 1,
    "use_spectral_norm": False,
    "adaptive_dropout": 0,
}


def _kwargs_reader(net, ignored, where):
    kwargs = dict(net.state.get("static_kwargs") or {})
    known = set(ignored)

    def get(name, default=None):
        known.add(name)
        value = kwargs.get(name, default)
        return default if value is None and default is not None else value

    def finish():
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise NetworkImportError(f"{where}: unsupported static_kwargs {unknown}")
        dtype = kwargs.get("dtype", "float32")
        if dtype != "float32":
            raise NetworkImportError(
                f"{where}: dtype={dtype!r} is not supported (use num_fp16_res for mixed precision)"
            )

    known.add("dtype")
    return get, finish


def collect_variables(net, prefix=""):
    """Flattens a Network state's variables into `{'mapping/Dense0/weight': array}`."""
    state = net.state
    out = {}
    for name, value in state.get("variables", []):
        # A 0-d variable (noise strength) comes back from a TF1 session as a numpy scalar.
        if isinstance(value, np.generic) and value.dtype.kind == "f":
            value = np.asarray(value)
        if not isinstance(name, str) or not isinstance(value, np.ndarray):
            raise NetworkImportError(f"{state.get('name')}: malformed variable entry {name!r}")
        out[prefix + name] = value
    for comp_name, comp in (state.get("components") or {}).items():
        if not isinstance(comp, safe_pickle.NetworkStub):
            raise NetworkImportError(f"{state.get('name')}: component {comp_name!r} is not a dnnlib Network")
        out.update(collect_variables(comp, prefix + comp_name + "/"))
    return out


def _rename_lod(params, resolution, kind):
    """Old 'orig' networks name the last ToRGB/FromRGB by level of detail."""
    renamed = {}
    for name, value in params.items():
        m = re.fullmatch(rf"(.*?){kind}_lod(\d+)/(.*)", name)
        if m:
            r = resolution // (2 ** int(m.group(2)))
            name = f"{m.group(1)}{r}x{r}/{kind}/{m.group(3)}"
        renamed[name] = value
    return renamed


def _channels(get):
    """The `nf(stage)` settings shared by G and D."""
    return dict(
        fmap_base=int(get("fmap_base", 16384)),
        fmap_decay=float(get("fmap_decay", 1.0)),
        fmap_min=int(get("fmap_min", 1)),
        fmap_max=int(get("fmap_max", 512)),
    )


def _flavor(name, table, where):
    if name not in table:
        raise NetworkImportError(f"{where}: unsupported network type {name!r}; expected one of {sorted(table)}")
    return table[name]


def generator_from_state(tf_G, where="G"):
    """Builds a `Generator` from an NVlabs TF `G`/`Gs` Network state."""
    comps = tf_G.state.get("components") or {}
    if "synthesis" not in comps or "mapping" not in comps:
        raise NetworkImportError(f"{where}: not a StyleGAN2 generator (no mapping/synthesis)")
    if tf_G.state.get("version", 0) < 4:
        raise NetworkImportError(
            f"{where}: pickle state version {tf_G.state.get('version')} "
            "is too old (StyleGAN1); versions 4 and 5 are supported"
        )
    flavor = _flavor(comps["synthesis"].state.get("build_func_name"), G_SYNTHESIS_FUNCS, where)
    get, finish = _kwargs_reader(tf_G, _G_IGNORED, where)
    resolution = int(get("resolution", 1024))
    raw = collect_variables(tf_G)
    params = _rename_lod(raw, resolution, "ToRGB")
    w_dim = int(get("dlatent_size", 512))
    mapping_fmaps = get("mapping_fmaps", 512 if flavor == "sg2" else None)
    resample = get("resample_kernel", [1, 3, 3, 1])
    architecture = get("architecture", "skip")
    if any("ToRGB_lod" in k for k in raw):
        architecture = "orig"
    G = Generator(
        z_dim=int(get("latent_size", 512)),
        c_dim=int(get("label_size", 0)),
        w_dim=w_dim,
        img_resolution=resolution,
        img_channels=int(get("num_channels", 3)),
        mapping_kwargs=dict(
            num_layers=int(get("mapping_layers", 8)),
            layer_features=None if mapping_fmaps is None else int(mapping_fmaps),
            embed_features=get("label_fmaps", None),
            activation=get("mapping_nonlinearity", "lrelu"),
            lr_multiplier=float(get("mapping_lrmul", 0.01)),
            w_avg_beta=get("dlatent_avg_beta", get("w_avg_beta", 0.995)),
            label_mode="concat" if "mapping/LabelConcat/weight" in params else "embed",
            normalize_z=bool(get("normalize_latents", True)),
        ),
        synthesis_kwargs=dict(
            channels=_channels(get),
            architecture=architecture,
            num_fp16_res=int(get("num_fp16_res", 0)),
            conv_clamp=get("conv_clamp", None),
            resample_filter=None if resample is None else [float(v) for v in resample],
            use_noise=bool(get("use_noise", True)),
            activation=get("nonlinearity", "lrelu"),
            const_channels=get("fmap_const", None),
            input_mode=_input_mode(params, where),
        ),
        name="generator",
    )
    finish()
    _assign(G, params, _generator_source_name, where)
    return G


def _input_mode(params, where):
    """The 4x4 input from the variables: aydao's `noconst` (no kwarg marks it) has Dense0 and
    Conv0_up in the 4x4 scope instead of Const."""
    has = {leaf: f"synthesis/4x4/{leaf}/weight" in params for leaf in ("Dense0", "Conv0_up", "Dense")}
    if has["Dense0"] or has["Conv0_up"]:
        if not (has["Dense0"] and has["Conv0_up"]):
            missing = "Conv0_up" if has["Dense0"] else "Dense0"
            raise NetworkImportError(
                f"{where}: synthesis/4x4 has aydao's noconst input but no synthesis/4x4/{missing}/weight"
            )
        return "noconst"
    return "dense" if has["Dense"] else "const"


def _mapping_layer_name(path, dense_scope):
    """A mapping layer's variable (`embed/<leaf>`, `fc<i>/<leaf>`) -> its TF name below the
    mapping scope (`LabelEmbed/<leaf>`, `<dense_scope><i>/<leaf>`); None for other paths."""
    m = re.fullmatch(r"(embed|fc(\d+))/(weight|bias)", path)
    if not m:
        return None
    return f"{'LabelEmbed' if m.group(1) == 'embed' else dense_scope + m.group(2)}/{m.group(3)}"


def _generator_source_name(path):
    """Our variable path (below the model) -> (TF variable name, transform)."""
    ident = lambda a: a
    m = re.fullmatch(r"mapping/(.*)", path)
    if m:
        rest = m.group(1)
        if rest == "w_avg":
            return "dlatent_avg", ident
        if rest == "label_concat":
            return "mapping/LabelConcat/weight", ident
        name = _mapping_layer_name(rest, "Dense")
        if name:
            return f"mapping/{name}", ident
    m = re.fullmatch(r"synthesis/b(\d+)/(.*)", path)
    if m:
        res, rest = int(m.group(1)), m.group(2)
        log2 = int(np.log2(res))
        scope = f"synthesis/{res}x{res}"
        if rest == "const":
            return f"{scope}/Const/const", lambda a: np.transpose(a[0], [1, 2, 0])
        m2 = re.fullmatch(r"dense0/(weight|bias)", rest)
        if m2 and res == 4:  # aydao's noconst: Dense0 (TF [in, out], like EqualizedDense)
            return f"{scope}/Dense0/{m2.group(1)}", ident
        m2 = re.fullmatch(r"(conv0|conv_up|conv1|torgb)/(.*)", rest)
        if m2:
            layer, leaf = m2.groups()
            # conv_up: aydao's 4x4 Conv0_up, which shares noise0 with 4x4/Conv.
            tf_layer = {
                "conv0": "Conv0_up",
                "conv_up": "Conv0_up",
                "conv1": "Conv1" if res > 4 else "Conv",
                "torgb": "ToRGB",
            }[layer]
            noise_idx = 0 if res == 4 else (2 * log2 - 5 if layer == "conv0" else 2 * log2 - 4)
            if leaf == "noise/noise_const":
                return f"synthesis/noise{noise_idx}", lambda a: a[0, 0]
            leaf_map = {
                "bias": "bias",
                "conv/weight": "weight",
                "conv/affine/weight": "mod_weight",
                "noise/strength": "noise_strength",
            }
            if leaf == "conv/affine/bias":
                return f"{scope}/{tf_layer}/mod_bias", lambda a: a + 1  # TF adds the 1 at run time.
            if leaf in leaf_map:
                return f"{scope}/{tf_layer}/{leaf_map[leaf]}", ident
        if rest == "skip/weight":
            return f"{scope}/Skip/weight", ident
        if rest in ("input_dense/weight", "input_dense/bias"):
            return f"{scope}/Dense/{rest.split('/')[1]}", ident
    return None, None


def discriminator_from_state(tf_D, where="D"):
    """Builds a `Discriminator` from an NVlabs TF `D` Network state."""
    if tf_D.state.get("version", 0) < 4:
        raise NetworkImportError(f"{where}: pickle state version is too old (StyleGAN1)")
    flavor = _flavor(tf_D.state.get("build_func_name"), D_FUNCS, where)
    get, finish = _kwargs_reader(tf_D, _D_IGNORED | set(_D_UNSUPPORTED), where)
    for name, default in _D_UNSUPPORTED.items():
        value = tf_D.state.get("static_kwargs", {}).get(name, default)
        if value != default:
            raise NetworkImportError(f"{where}: {name}={value!r} is not supported by sg2tf")
    resolution = int(get("resolution", 1024))
    raw = collect_variables(tf_D)
    params = _rename_lod(raw, resolution, "FromRGB")
    architecture = get("architecture", "resnet")
    if any("FromRGB_lod" in k for k in raw):
        architecture = "orig"
    group = get("mbstd_group_size", 4 if flavor == "sg2" else None)
    num_features = int(get("mbstd_num_features", 1))
    if flavor == "sg2" and (group is None or group <= 1):
        num_features = 0  # StyleGAN2 disables the layer with a group size <= 1.
    resample = get("resample_kernel", [1, 3, 3, 1])
    D = Discriminator(
        c_dim=int(get("label_size", 0)),
        img_resolution=resolution,
        img_channels=int(get("num_channels", 3)),
        channels=_channels(get),
        architecture=architecture,
        num_fp16_res=int(get("num_fp16_res", 0)),
        conv_clamp=get("conv_clamp", None),
        resample_filter=None if resample is None else [float(v) for v in resample],
        activation=get("nonlinearity", "lrelu"),
        mbstd_group_size=group,
        mbstd_num_channels=num_features,
        conditioning="cmap" if "LabelEmbed/weight" in params else "project",
        cmap_dim=get("mapping_fmaps", None),
        mapping_layers=int(get("mapping_layers", 0)),
        mapping_lr_multiplier=float(get("mapping_lrmul", 0.1)),
        name="discriminator",
    )
    finish()
    _assign(D, params, _discriminator_source_name, where)
    return D


def _discriminator_source_name(path):
    ident = lambda a: a
    m = re.fullmatch(r"b(\d+)/(fromrgb|conv0|conv1|skip)/(weight|bias)", path)
    if m:
        res, layer, leaf = m.groups()
        tf_layer = {"fromrgb": "FromRGB", "conv0": "Conv0", "conv1": "Conv1_down", "skip": "Skip"}[layer]
        return f"{res}x{res}/{tf_layer}/{leaf}", ident
    m = re.fullmatch(r"b4_(fromrgb|conv|fc|out)/(weight|bias)", path)
    if m:
        layer, leaf = m.groups()
        tf_layer = {"fromrgb": "4x4/FromRGB", "conv": "4x4/Conv", "fc": "4x4/Dense0", "out": "Output"}[layer]
        return f"{tf_layer}/{leaf}", ident
    name = _mapping_layer_name(path[len("mapping_") :], "Mapping") if path.startswith("mapping_") else None
    if name:
        return name, ident
    return None, None


_IGNORED_SOURCE = {"lod", "synthesis/lod"}


def _assign(model, params, source_name, where):
    """Copies `params` into `model`'s variables, strictly."""
    used = set()
    for var in model.weights:
        path = var.path.split("/", 1)[1]
        name, transform = source_name(path)
        if name is None:
            raise NetworkImportError(f"{where}: no source rule for variable {path}")
        if name not in params:
            raise NetworkImportError(f"{where}: variable '{name}' (for {path}) is missing from the pickle")
        value = np.asarray(transform(params[name]), dtype=np.float32)
        if tuple(value.shape) != tuple(var.shape):
            raise NetworkImportError(
                f"{where}: variable '{name}' has shape {tuple(params[name].shape)}, expected "
                f"{tuple(var.shape)} for {path}"
            )
        var.assign(value)
        used.add(name)
    unused = sorted(set(params) - used - _IGNORED_SOURCE)
    if unused:
        raise NetworkImportError(
            f"{where}: variables not understood by sg2tf: {unused[:8]}" + (" ..." if len(unused) > 8 else "")
        )


def load_tf_pickle(data):
    """Converts an unpickled `(G, D, Gs)` tuple into `{'G', 'D', 'G_ema'}` models."""
    if not (isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, safe_pickle.NetworkStub) for n in data)):
        raise NetworkImportError("not an NVlabs TF network pickle: expected a (G, D, Gs) tuple of dnnlib Networks")
    tf_G, tf_D, tf_Gs = data
    return {
        "G": generator_from_state(tf_G, "G"),
        "D": discriminator_from_state(tf_D, "D"),
        "G_ema": generator_from_state(tf_Gs, "Gs"),
    }
