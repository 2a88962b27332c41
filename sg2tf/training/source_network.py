"""Fine-tuning: a new run that starts from a network snapshot or pickle (`--resume=net.pkl`).

Both original training codes stop when a resumed network's weights do not fit the networks
they build. sg2tf-train therefore builds the source's own architecture by default
(`--transfer=same`): every architecture option is read from the source network, a flag that
would change one is an error naming the flag, and every weight is copied (a weight left
behind stops the run). `--transfer=partial` is the surgery mode: the networks are built
from the flags and preset as for a new run, and only the weights that match by name and
shape are copied; the others keep their initial values and are listed.

Not architecture, and so still the run's own choice: the precision options (`--fp16_res`,
`--conv_clamp`, `--precision`, as the originals take them from the training config, not from
the pickle) and `--mbstd_group` (the minibatch-stddev group size changes no weight; the
source's is the default).
"""

import sg2tf
from sg2tf import data as data_lib
from sg2tf.networks.channels import parse_channel_table
from sg2tf.training import freeze, setup, transfer
from sg2tf.training.setup import TrainingError

TRANSFER_MODES = ("same", "partial")

# Option -> how to read it from the source's (G, D): every option that shapes a weight.
_ARCHITECTURE = {
    "resolution": lambda G, D: G.img_resolution,
    "cond": lambda G, D: G.c_dim > 0,
    "z_dim": lambda G, D: G.z_dim,
    "w_dim": lambda G, D: G.w_dim,
    "mapping_layers": lambda G, D: G.mapping.num_layers,
    "mapping_width": lambda G, D: G.mapping.layer_features,
    "fmap_base": lambda G, D: G.synthesis.channels.fmap_base,
    "fmap_max": lambda G, D: G.synthesis.channels.fmap_max,
    "channels": lambda G, D: _table(G.synthesis.channels.table, D.channels.table),
    "g_arch": lambda G, D: G.synthesis.architecture,
    "noconst": lambda G, D: G.synthesis.input_mode == "noconst",
    "d_arch": lambda G, D: D.architecture,
    "mbstd_channels": lambda G, D: D.mbstd_num_channels,
}
# Defaults taken from the source that a flag may change (no weight depends on them).
_SOFT = {"mbstd_group": lambda G, D: D.mbstd_group_size or 0}
# Config keys that are the run's choice, not the source's (precision), and the model name.
_RUN_KEYS = ("name", "num_fp16_res", "conv_clamp", "low_precision", "mbstd_group_size")
# Config keys of the label input (G's mapping, D's conditioning).
_LABEL_KEYS = ("label_mode", "embed_features", "conditioning", "cmap_dim", "mapping_layers", "mapping_lr_multiplier")

_loaded = {}  # path -> Networks, read in `adopt` and taken once by `load`


def _read(path):
    try:
        return sg2tf.load_network(path)
    except Exception as e:  # noqa: BLE001 (any loader failure is the user's file)
        raise TrainingError(f"--resume={path}: cannot load ({type(e).__name__}: {e})") from None


def load(path):
    """The source `Networks` of `--resume=path` (the copy `adopt` read, else read now)."""
    return _loaded.pop(path, None) or _read(path)


def source_architecture(nets):
    """`{option: value}` of the architecture options of a source's G and D."""
    G, D = nets.G_ema or nets.G, nets.D
    if D is None:
        return {k: read(G, G) for k, read in _ARCHITECTURE.items() if not k.startswith(("d_", "mbstd"))}
    return {k: read(G, D) for k, read in {**_ARCHITECTURE, **_SOFT}.items()}


def adopt(given, path):
    """The options of a new run fine-tuning the network at `path` (`--resume`).

    With `--transfer=same` (the default) the architecture options are the source's; a given
    flag with another value, or a dataset the source cannot train on (resolution, channels,
    label count), is a `TrainingError` naming it. `--transfer=partial` keeps the given
    options. The source is read here once; `load(path)` hands it on.
    """
    mode = given.get("transfer", "same")
    if mode not in TRANSFER_MODES:
        raise TrainingError(f"--transfer={mode}: choose from {', '.join(TRANSFER_MODES)}")
    nets = _read(path)
    _loaded.clear()
    _loaded[path] = nets
    if mode == "partial":
        return given
    source = source_architecture(nets)
    where = f"the source network (--resume={path})"
    hint = (
        "fine-tuning keeps the source's architecture; pass --transfer=partial to build another and copy "
        "the weights that fit"
    )
    for key, value in source.items():
        if key in given and key not in _SOFT and _normalize(key, given[key]) != _normalize(key, value):
            raise TrainingError(f"--{key}={_flag_text(given[key])}: {where} has {key} {_flag_text(value)}; {hint}")
    if given.get("data"):
        _check_dataset(given["data"], nets.G_ema or nets.G, where, hint)
    adopted = dict(given)
    for key, value in source.items():
        adopted.setdefault(key, value)
    return adopted


def _table(*tables):
    """The `--channels` text of the explicit channel tables of G and D (one table serves both)."""
    merged = {}
    for table in tables:
        merged.update(table)
    return ",".join(f"{r}:{c}" for r, c in sorted(merged.items()))


def _normalize(key, value):
    if key == "channels":
        return parse_channel_table(value)
    return value


def _flag_text(value):
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if value == "" else str(value)


def _check_dataset(data, G, where, hint):
    try:
        info = data_lib.read_info(data)
    except (data_lib.DatasetError, OSError):
        return  # the loop reports the dataset's own error
    res = G.img_resolution
    if res not in info.resolutions:
        raise TrainingError(
            f"--data={data}: stores {info.resolution}x{info.resolution} images, {where} makes {res}x{res}; "
            f"make the dataset at {res}x{res} (sg2tf-dataset create_from_images --resolution={res}) or {hint}"
        )
    if tuple(getattr(info, "base_shape", (4, 4))) != tuple(G.synthesis.base_shape):  # non-square networks
        (h, w), (gh, gw) = info.shape, G.img_shape
        raise TrainingError(f"--data={data}: {w}x{h} (WxH) images, {where} makes {gw}x{gh} images; {hint}")
    if info.channels != G.img_channels:
        raise TrainingError(
            f"--data={data}: {info.channels}-channel images, {where} makes {G.img_channels}-channel images; {hint}"
        )
    if G.c_dim and info.label_size != G.c_dim:
        raise TrainingError(
            f"--data={data}: {info.label_size or 'no'} labels per image, {where} is conditioned on {G.c_dim} classes; "
            f"{hint}"
        )


def _config(net):
    """A network's config without the run's own keys (precision), for comparison; without
    the label settings of an unconditional network (they make no weight and change nothing)."""
    skip = _RUN_KEYS if net.c_dim else _RUN_KEYS + _LABEL_KEYS

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in skip}
        return value

    config = strip(net.get_config())
    # Channels by what they give at each resolution (2: D's head), not by how they are written.
    is_g = "synthesis_kwargs" in config
    spec = net.synthesis.channels if is_g else net.channels
    widths = {r: spec(r) for r in (2**i for i in range(2 if is_g else 1, int(net.img_resolution).bit_length()))}
    (config["synthesis_kwargs"] if is_g else config)["channels"] = widths
    return config


def _differences(a, b, prefix=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += _differences(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return [] if a == b else [f"{prefix[:-1]} {a!r} (built: {b!r})"]


def plan(opts, source, path):
    """What fine-tuning from `source` does with the networks `opts` builds, before any work.

    Builds the networks of `opts`, copies the source's weights into them (`transfer.copy_matching`)
    and returns `{"transfer": {...}}` for `--dry_run`: the mode, per network the variables
    copied and those not copied (and why), and the variables `--freezed`/`--freeze_g`/
    `--freeze_mapping` freeze. With `--transfer=same`, a config the options cannot rebuild
    or any weight left behind is a `TrainingError`.
    """

    G, D, _ = setup.build_networks(opts)
    built = {"G": G, "D": D}
    sources = {"G": source.G_ema or source.G, "D": source.D}
    mode = opts.transfer
    out = {"mode": mode}
    for name, dst in built.items():
        src = sources[name]
        if src is None:
            out[name] = {"copied": 0, "not_copied": [f"{name} is not in the source"]}
            continue
        copied, mismatch, missing, unused = transfer.copy_matching(src, dst)
        left = [f"{k}: shape {s} in the source, {d} here" for k, s, d in mismatch]
        left += [f"{k}: not in the source" for k in missing]
        if mode == "same":
            differ = _differences(_config(src), _config(dst))
            if differ or left or unused:
                problems = differ + left + [f"{k}: only in the source" for k in unused]
                raise TrainingError(
                    f"--resume={path}: {name} of the source cannot be rebuilt from sg2tf-train's options "
                    f"({len(problems)} differences, first: {problems[0]}); --transfer=partial copies what fits"
                )
        out[name] = {"copied": len(copied), "not_copied": left, "source_unused": unused}
    frozen_g = freeze.freeze_filter_g(G, opts.freeze_g, opts.freeze_mapping)
    frozen_d = freeze.freeze_filter_d(D, opts.freezed)
    out["frozen"] = {"G": sorted(frozen_g), "D": sorted(frozen_d), "D_layers": freeze.d_layers(D)[: opts.freezed]}
    return {"transfer": out}


def copy_weights(source, networks, path, say):
    """Copies the source's weights into the run's `(G, D, G_ema)` and says what was copied
    (one line per network, plus one per variable left at its initial value)."""

    for name, dst in zip(("G", "D", "G_ema"), networks):
        src = {"G": source.G, "D": source.D, "G_ema": source.G_ema or source.G}[name]
        if src is None:
            say(f"{name}: not in {path}; kept initial weights")
            continue
        for line in transfer.report(name, transfer.copy_matching(src, dst)):
            say(line)
