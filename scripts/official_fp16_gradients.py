"""Records how far stylegan2-ada-pytorch's own float16 (and bfloat16) gradients are from its
float32 gradients, at 256 px with `num_fp16_res=4`, for tests/test_fp16_gradients.py.

Builds the official G and D (random weights, perturbed as the training recordings are, so that
biases and noise strengths are not zero) with the settings below, then computes every
parameter's gradient of

  G: sum(G(z, noise_mode='const') * r)    z `[N, z_dim]`, r `[N, H, W, C]`
  D: sum(D(images))                       images `[N, H, W, C]` in [-1, 1]

with the reduced-precision blocks in float16 (the official code), in bfloat16 (the official code
with its float16 dtype replaced by bfloat16) and with `force_fp32=True`. The inputs are drawn
with numpy (see `inputs`), so the test draws the same ones. Writes:

* `<out>.npz`: `init/{G|D}/{torch name}`, the networks' parameters and buffers (but the noise
  buffers, drawn from `NOISE_SEED`, see `noise_buffers`), and `{precision}/{G|D}/{torch name}`,
  the gradients (float32) for float32, float16 and bfloat16;
* `<out>.json`: the settings, the official constructor kwargs, the loss definitions, the
  official repository and commit, and per tensor the official float16/bfloat16 relative
  distance to float32.

Usage:
  python scripts/official_fp16_gradients.py --checkout=/work/ext/stylegan2-ada-pytorch \\
      --out=tests/data/fp16_gradients/official-256
"""

import argparse
import json
import os
import sys
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import record_training_reference as recorder  # noqa: E402

from sg2tf.utils.atomic import atomic_file  # noqa: E402

# The networks: 256 px, the top four resolutions in reduced precision with conv_clamp=256 (the
# official presets' setting), narrow (4 channels at 256 px up to 16) so that the test is fast.
SETTINGS = dict(
    recorder.DEFAULTS,
    resolution=256,
    z_dim=32,
    w_dim=32,
    channel_base=1024,
    channel_max=16,
    num_fp16_res=4,
    conv_clamp=256,
    mbstd_group=4,
    augpipe=None,
)
BATCH = 4
INPUT_SEED = 1
NOISE_SEED = 2


def inputs(settings, batch=BATCH, seed=INPUT_SEED):
    """The loss inputs `(z, r, images)` (NHWC, float32), drawn with numpy from `seed`."""
    rng = np.random.RandomState(seed)
    res, ch = settings["resolution"], settings["img_channels"]
    z = rng.randn(batch, settings["z_dim"]).astype(np.float32)
    r = rng.randn(batch, res, res, ch).astype(np.float32)
    images = np.clip(rng.randn(batch, res, res, ch) * 0.5, -1, 1).astype(np.float32)
    return z, r, images


def noise_buffers(shapes, seed=NOISE_SEED):
    """`{name: array}`: the noise buffers (`shapes`: `{name: shape}`, in G's order), drawn with
    numpy from `seed` one after the other."""
    rng = np.random.RandomState(seed)
    return {name: rng.randn(*shape).astype(np.float32) for name, shape in shapes.items()}


def relative(a, b):
    """`|a - b| / |b|` (Frobenius norms; 0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / den) if den > 0 else float(np.linalg.norm(a) > 0)


class _ReducedDtype(types.ModuleType):
    """`torch` as the official networks module sees it, with `float16` meaning `dtype`."""

    def __init__(self, torch, dtype):
        super().__init__("torch")
        self._torch, self.float16 = torch, dtype

    def __getattr__(self, name):
        return getattr(self._torch, name)


def gradients(torch, networks, G, D, data, precision):
    """`{G: {name: grad}, D: {...}}` with the reduced-precision blocks in `precision`."""
    z, r, images = (torch.from_numpy(a) for a in data)
    r, images = r.permute(0, 3, 1, 2), images.permute(0, 3, 1, 2)
    force_fp32 = precision == "float32"
    saved = networks.torch
    if precision == "bfloat16":
        networks.torch = _ReducedDtype(torch, torch.bfloat16)
    try:
        out = {}
        for name, net in (("G", G), ("D", D)):
            net.requires_grad_(True).zero_grad(set_to_none=True)
            if name == "G":
                loss = (G(z, None, noise_mode="const", force_fp32=force_fp32).float() * r).sum()
            else:
                loss = D(images, None, force_fp32=force_fp32).float().sum()
            loss.backward()
            out[name] = {k: p.grad.float().numpy().copy() for k, p in net.named_parameters()}
            net.requires_grad_(False)
        return out
    finally:
        networks.torch = saved


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", required=True, help="a stylegan2-ada-pytorch checkout")
    parser.add_argument("--out", required=True, help="output path without extension")
    args = parser.parse_args(argv)
    torch, _, G, D, _, _, kwargs = recorder._build(SETTINGS, args.checkout)
    from training import networks

    G.train()
    D.train()
    shapes = {k: list(v.shape) for k, v in G.named_buffers() if k.endswith("noise_const")}
    buffers = dict(G.named_buffers())
    for name, value in noise_buffers(shapes).items():
        buffers[name].copy_(torch.from_numpy(value))
    data = inputs(SETTINGS)
    grads = {p: gradients(torch, networks, G, D, data, p) for p in ("float32", "float16", "bfloat16")}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    arrays = {f"{p}/{n}/{k}": v for p, nets in grads.items() for n, g in nets.items() for k, v in g.items()}
    for n, net in (("G", G), ("D", D)):
        for k, v in [*net.named_parameters(), *net.named_buffers()]:
            if k not in shapes:
                arrays[f"init/{n}/{k}"] = v.detach().float().numpy()
    with atomic_file(args.out + ".npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    distance = {
        p: {n: {k: relative(v, grads["float32"][n][k]) for k, v in g.items()} for n, g in grads[p].items()}
        for p in ("float16", "bfloat16")
    }
    meta = dict(
        official=recorder._provenance(args.checkout, torch),
        settings=SETTINGS,
        kwargs=kwargs,
        batch=BATCH,
        input_seed=INPUT_SEED,
        noise_seed=NOISE_SEED,
        noise_buffers=shapes,
        losses=dict(G="sum(G(z, noise_mode='const') * r)", D="sum(D(images))"),
        inputs="scripts/official_fp16_gradients.py inputs(): RandomState(seed) z, r, images",
        official_distance=distance,
    )
    with atomic_file(args.out + ".json") as tmp, open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    for p, nets in distance.items():
        for n, d in nets.items():
            worst = max(d, key=d.get)
            print(f"official {p} {n}: worst {d[worst]:.3e} ({worst}), {sum(v > 1e-2 for v in d.values())} > 1e-2")


if __name__ == "__main__":
    main()
