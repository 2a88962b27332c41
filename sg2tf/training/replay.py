"""Replaying recorded training steps of the official code through `Trainer.train_step`.

`Trainer.train_step(reals, labels, draws=RecordedDraws(...), capture=True)` runs one step with
every random input taken from a recording (`sg2tf.training.draws.RecordedDraws`, which also
describes the format) instead of the trainer's generator, and returns, besides the usual
statistics, each phase's gradients (`grads/<phase>`: `{variable path: array}`, summed over
replicas and rounds, unscaled). This is how sg2tf is compared with the official training code
step for step (tests/test_training_parity.py, references recorded by
scripts/record_training_reference.py), and how a training difference can be debugged: record
the draws of one side and feed them to the other.

`load_reference` reads a recording (making its draws again when it was recorded with a
`draw_seed`: `regenerate_draws`), `reference_inputs` and `reference_draws` give an
iteration's inputs and draws, `official_to_paths` converts stylegan2-ada-pytorch tensors to
sg2tf's variable layouts.
"""

import hashlib
import json
import re

import numpy as np

from sg2tf.io import nvlabs_tf, nvlabs_torch
from sg2tf.networks.generator import Generator
from sg2tf.training.draws import RecordedDraws

# Official phase names -> the trainer's.
PHASES = {"Gmain": "G_main", "Greg": "G_reg", "Dmain": "D_main", "Dreg": "D_reg"}


def official_aug_params(arrays, n):
    """stylegan2-ada-pytorch `AugmentPipe` draws (as recorded: `{name: array}`, official shapes,
    NCHW noise, repeated draws stacked first) -> `AugmentPipe` params (batch first, NHWC)."""
    out = {}
    for name, v in arrays.items():
        v = np.asarray(v, np.float32)
        if name == "noise_pixels":
            out[name] = np.transpose(v, [0, 2, 3, 1])
        elif name in ("cutout_center", "xint_value", "xfrac_value"):
            out[name] = v.reshape(n, 2)
        elif name.startswith(("rotate_", "imgfilter_")):
            out[name] = v.reshape(-1, n).T.copy()
        else:
            out[name] = v.reshape(n)
    return out


def _nhwc(a):
    return np.transpose(np.asarray(a, np.float32), [0, 2, 3, 1])


def reference_inputs(data, iteration):
    """`(reals NHWC, labels)` of a recorded iteration."""
    return _nhwc(data[f"it{iteration}/real_img"]), np.asarray(data[f"it{iteration}/real_c"], np.float32)


def reference_draws(data, iteration):
    """The `RecordedDraws` of a recorded iteration (`data`: `{key: array}` of the recording's npz)."""
    draws = {}
    for official, phase in PHASES.items():
        pre = f"it{iteration}/{official}/"
        if pre + "gen_z" not in data or not any(k.startswith(pre + "grad/") for k in data):
            continue  # Not run, or ran without a loss (pl_weight or r1_gamma 0): nothing to replay.
        z = np.asarray(data[pre + "gen_z"], np.float32)
        d = {"z": z, "c": np.asarray(data[pre + "gen_c"], np.float32)}
        if pre + "mix_cutoff" in data:  # one cutoff and gate for the phase's batch, as drawn
            d["mix_z"] = np.asarray(data[pre + "mix_z"], np.float32)
            d["mix_layer"] = np.int32(data[pre + "mix_cutoff"])
            d["mix_gate"] = np.float32(data[pre + "mix_gate"])
        noise, k = [], 0
        while f"{pre}noise{k}" in data:
            noise.append(_nhwc(data[f"{pre}noise{k}"]))
            k += 1
        if noise:
            d["noise"] = noise
        if pre + "pl_noise" in data:
            pl = _nhwc(data[pre + "pl_noise"])
            d["pl_noise"] = pl / np.float32(np.sqrt(pl.shape[1] * pl.shape[2]))
        aug, k = [], 0
        while any(key.startswith(f"{pre}aug{k}/") for key in data):
            arrays = {key[len(f"{pre}aug{k}/") :]: data[key] for key in data if key.startswith(f"{pre}aug{k}/")}
            aug.append(official_aug_params(arrays, z.shape[0]))
            k += 1
        if aug:
            d["aug"] = aug
        draws[phase] = d
    return RecordedDraws(draws)


def official_to_paths(model, tensors, gradients=False):
    """stylegan2-ada-pytorch tensors (`{torch name: array}`) of a G or D -> `{variable path:
    float64 array}` of the sg2tf `model`, in sg2tf's layouts (as `load_network` assigns
    them). `gradients`: the tensors are gradients (the affine bias offset is left out).
    Tensors the dict lacks are left out."""

    def convert(t):
        if isinstance(model, Generator):
            params, source_name = nvlabs_torch._generator_params(t, "G"), nvlabs_tf._generator_source_name
        else:
            params, source_name = nvlabs_torch._discriminator_params(t, "D"), nvlabs_tf._discriminator_source_name
        out = {}
        for v in model.variables:
            name, transform = source_name(v.path.split("/", 1)[1])
            if name in params:
                out[v.path] = np.asarray(transform(params[name]), np.float64)
        return out

    out = convert({k: np.asarray(v, np.float64) for k, v in tensors.items()})
    if gradients:  # The layouts differ by offsets (the affine bias): keep the linear part only.
        zero = convert({k: np.zeros(np.shape(v)) for k, v in tensors.items()})
        out = {k: v - zero[k] for k, v in out.items()}
    return out


# The draws and inputs a recording with `draw_dtype="float16"` stores as float16.
DRAW_KEY = re.compile(r"it\d+/real_img|it\d+/\w+/(noise\d+|pl_noise|mix_z|aug\d+/\w+)")


def make_draw(gen, fn, shape, args=()):
    """One draw of the official code's random function `fn` from numpy Generator `gen` (the
    recorder's `draw_seed`; `uniform`: a real image)."""
    if fn in ("randn", "randn_like"):
        return gen.standard_normal(shape, dtype=np.float32)
    if fn == "rand":
        return gen.random(shape, dtype=np.float32)
    if fn == "random_":
        return np.asarray(gen.integers(args[0], args[1]), np.int64)
    if fn == "uniform":
        return gen.uniform(-1.0, 1.0, shape).astype(np.float32)
    raise ValueError(f"unknown random function {fn!r}")


def float16_grid(a, down=False):
    """`a` rounded to float16 values (to nearest, or `down`), in its own dtype."""
    h = a.astype(np.float16)
    if down:
        h = np.where(h.astype(a.dtype) > a, np.nextafter(h, np.float16(-np.inf)), h)
    return h.astype(a.dtype)


def draws_digest(data, keys):
    """SHA-256 (hex) of the arrays `data[k]` for `keys` in order (name, dtype, shape, bytes)."""
    h = hashlib.sha256()
    for k in keys:
        a = np.ascontiguousarray(data[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def regenerate_draws(draws, where="recording"):
    """`{key: array}` of a recording's draws made from its `draw_seed` (the .json's `draws`:
    numpy's PCG64 with that seed, in the recorded order, rounded to float16 for `dtype`
    float16, uniforms downwards so that they stay below 1), as the .npz would hold them; checked
    against the recorded SHA-256 when there is one (a numpy whose generator changed)."""
    gen = np.random.Generator(np.random.PCG64(draws["seed"]))
    made = {}
    for key, fn, shape, args in draws["made"]:
        value = make_draw(gen, fn, shape, args)
        if draws["dtype"] == "float16" and fn != "random_":
            value = float16_grid(value, down=fn == "rand")
        made.setdefault(key, []).append(value)
    out = {k: v[0] if len(v) == 1 else np.stack(v) for k, v in made.items()}
    if draws["dtype"] == "float16":
        out = {k: v.astype(np.float16) if DRAW_KEY.fullmatch(k) else v for k, v in out.items()}
    if "sha256" in draws and draws_digest(out, list(out)) != draws["sha256"]:
        raise ValueError(f"{where}: the draws made from seed {draws['seed']} differ from the recording's")
    return out


def load_reference(path):
    """`(meta, data)` of a recording made by scripts/record_training_reference.py: `path`
    without extension (`.json` and `.npz`); packed tensor groups are unpacked to per-tensor
    keys (`init/G/mapping.fc0.weight`, `it0/Gmain/grad/G/...`, ...), and the draws of a
    recording made with a `draw_seed` are made again (`regenerate_draws`)."""
    with open(path + ".json") as f:
        meta = json.load(f)
    data = {}
    with np.load(path + ".npz") as z:
        for key in z.files:
            m = re.fullmatch(r"init/(G|D|G_ema)|it\d+/after/(G|D|G_ema)|it\d+/\w+/grad(_f32_error)?/(G|D)", key)
            if not m:
                data[key] = z[key]
                continue
            net = key.split("/")[-1]
            flat, offset = z[key], 0
            grads = "/grad" in key
            if "/grad_f32_error/" in key:  # One value per parameter.
                for name, value in zip(meta["parameters"][net], flat):
                    data[f"{key}/{name}"] = value
                continue
            for name, shape in meta["layouts"]["G" if net == "G_ema" else net]:
                if grads and f"{name}" not in meta["parameters"]["G" if net == "G_ema" else net]:
                    continue
                size = int(np.prod(shape))
                data[f"{key}/{name}"] = flat[offset : offset + size].reshape(shape)
                offset += size
            if offset != flat.size:
                raise ValueError(f"{path}.npz: {key} holds {flat.size} values, its layout {offset}")
    if "draws" in meta:  # Recorded with a draw_seed: its draws are made again, not stored.
        data.update(regenerate_draws(meta["draws"], path))
    return meta, data
