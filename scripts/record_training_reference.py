"""Records training steps of stylegan2-ada-pytorch for sg2tf's training parity tests.

Builds the official G, D and G_ema (random weights) and AugmentPipe from a spec, then runs N
iterations of the official training loop's phases in their order (Gmain, Greg, Dmain, Dreg with
the lazy intervals, `training.loss.StyleGAN2Loss`, Adam with the lazy-regularization learning-rate
and beta adjustment, G_ema with ramp-up, the path-length mean, ADA's p adjustment), and writes:

* `<out>.pkl`: the initial G, D, G_ema (and augment pipe) as a stylegan2-ada-pytorch snapshot
  pickle (each persistent class's `module_src` replaced by a placeholder comment), which
  `sg2tf.load_network` reads;
* `<out>.json`: the spec, the official constructor kwargs, the original's commit; with
  `--draw_seed`, how to make the draws and real images again (`draws`: numpy PCG64 seed, each
  draw's key, function, shape and range in order, SHA-256), which the .npz then leaves out;
* `<out>.npz`: the initial tensors (`init/{G,D,G_ema}/<torch name>`), every input and random
  draw per iteration and phase, the loss terms each phase reports, the gradient of every
  parameter per phase (as the optimizer sees it), and all weights plus `pl_mean` and `p` after
  every iteration;
* for a float16 spec (`num_fp16_res` > 0), its float32 twin `<out>-fp32.{json,npz}`: the same
  initial weights and draws with `num_fp16_res=0`.

The official code is imported from `--checkout` at run time; none of it is stored. Random
draws are not re-implemented: `torch.randn`, `torch.rand`, `torch.randn_like` and
`Tensor.random_` are wrapped while the official code runs, and every value they return is stored
under the name of what it is for (found from the calling function and the source line), so the
official code draws and uses exactly the stored values. An unexpected draw is an error.

Keys (`i` = iteration, `P` = phase name: Gmain, Greg, Dmain, Dreg, Gboth, Dboth):
  it{i}/real_img [B,C,H,W], it{i}/real_c [B,c_dim]
  it{i}/{P}/gen_z, gen_c                    the phase's latents and generated-image labels
  it{i}/{P}/mix_cutoff, mix_gate, mix_z     style mixing: cutoff layer, its uniform, second latents
  it{i}/{P}/noise{k}                        synthesis noise [N,1,H,W] in the order drawn
  it{i}/{P}/pl_noise                        path-length image directions (before the 1/sqrt(HW))
  it{i}/{P}/aug{k}/{name}                   the k-th augment call's draws (official shapes; a name
                                            drawn several times is stacked on a new first axis)
  it{i}/{P}/loss/{stat}                     what the loss reports (Loss/G/loss -> G_loss, ...)
  it{i}/{P}/grad/{G|D}/{param}              gradients after the phase's backward passes
  spread/{kind}/...                         the official run's own spread (--float64_check;
                                            --spread lists the kinds: float64, nudge, threads):
                                            the recording's distance to the same iterations from
                                            the same weights and draws run in float64, from
                                            weights (and augmentation sampling grids) times
                                            1 + 2^-24 N(0, 1) (`nudge`: --nudge_runs such runs,
                                            each with its own nudge, stacked on a first axis),
                                            on another thread count. `it{i}/{P}/loss/{stat}`
                                            (mean), `it{i}/{P}/grad/{G|D}` (norm per parameter, in
                                            `parameters` order, NaN: none), `it{i}/pl_mean`,
                                            `it{i}/p`, `update/{G|D|G_ema}` (norm of w_N - w_0 per
                                            tensor, `layouts` order)
  spread/fp16_pairs/...                     float16 specs: the same keys, each stacked over
                                            --fp16_pairs pairs of official runs, float16 and its
                                            float32 twin from the same weights times
                                            1 + 2^-11 N(0, 1) (one float16 rounding; same draws):
                                            each pair's distance float16 to float32
  it{i}/after/{G|D|G_ema}/{tensor}, it{i}/after/pl_mean, it{i}/after/p, it{i}/after/ada_rt

In the .npz the tensors of each init/after/grad group are packed into one flat float32 array
(key: the group, e.g. `it0/Gmain/grad/G`), in the order and shapes of `layouts` in the .json
(`sg2tf.training.replay.load_reference` unpacks them). `--keep_every=false` keeps the weights
after the last iteration only (the committed fixtures: the tests compare the last).

Usage:
  python scripts/record_training_reference.py --checkout=/work/ext/stylegan2-ada-pytorch \\
      --spec=spec.json --out=tests/data/training_reference/case [--iterations=4]
  Flags named like the spec keys override the spec (e.g. --resolution=16 --g_arch=orig).
"""

import argparse
import ast
import copy
import json
import os
import pickle
import re
import sys

import numpy as np

from sg2tf.training.replay import DRAW_KEY, draws_digest, float16_grid, make_draw, regenerate_draws
from sg2tf.utils.atomic import atomic_file

# The spec keys and their defaults.
DEFAULTS = {
    # The networks (the official G and D constructor arguments): data and mapping, the blocks'
    # widths and precision, the architectures.
    **dict(resolution=8, img_channels=3, c_dim=0, z_dim=16, w_dim=16, mapping_layers=2),
    **dict(channel_base=128, channel_max=16, num_fp16_res=0, conv_clamp=None),
    **dict(g_arch="skip", d_arch="resnet", mbstd_group=2, mbstd_channels=1),
    # Augmentation (augpipe: a name in the official `augpipe_specs`, or its kwargs; None = none).
    **dict(augpipe=None, aug_p=0.0, ada_target=None, ada_interval=4, ada_kimg=500),
    # The loss and its regularization.
    **dict(r1_gamma=1.0, pl_weight=2.0, style_mixing_prob=0.9, pl_batch_shrink=2, pl_decay=0.01),
    **dict(g_reg_interval=2, d_reg_interval=2),
    # Batch, optimisers and G's EMA.
    **dict(batch=4, glr=0.0025, dlr=0.0025, ema_kimg=0.01, ema_rampup=None),
    # The recording: iterations, seed, weight perturbation, what is kept and checked.
    **dict(iterations=4, seed=0, perturb=0.1, keep_every=True, float64_check=True, spread=["float64", "nudge"]),
    # How many nudged runs (each its own nudge seed) sample the `nudge` spread, and how many
    # float16/float32 pairs a float16 spec's distance to its float32 twin (`spread/fp16_pairs`).
    **dict(nudge_runs=32, fp16_pairs=32),
    # "float16": every random draw and real image is rounded to float16 before the official code
    # uses it (uniforms downwards, so they stay below 1) and stored so: half the bytes, nothing lost.
    **dict(draw_dtype="float32"),
    # An int: every random draw the official code makes and every real image come from numpy's
    # PCG64 generator with this seed (`np.random.Generator(np.random.PCG64(draw_seed))`, in draw
    # order: randn, randn_like -> standard_normal(shape, float32), rand -> random(shape, float32),
    # random_(low, high) -> integers(low, high), real images -> uniform(-1, 1, shape) as float32),
    # then rounded as `draw_dtype` says; the .npz leaves them out and the .json's `draws` says how
    # to make them again (the order, each key, function, shape and range) with a SHA-256 of the
    # result (`regenerate_draws`). For a case whose draws would not fit the repository.
    **dict(draw_seed=None),
}


def _official_augpipes(checkout):
    """The `augpipe_specs` table of the checkout's train.py (evaluated from its syntax tree)."""
    with open(os.path.join(checkout, "train.py"), encoding="utf-8-sig") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "augpipe_specs" for t in node.targets):
            return eval(compile(ast.Expression(node.value), "train.py", "eval"), {"dict": dict})  # noqa: S307
    raise RuntimeError("augpipe_specs not found in train.py of the checkout")


class DrawLog:
    """Wraps torch's random functions; stores every draw made while `context` is set."""

    def __init__(self, torch):
        self.torch = torch
        self.context = None  # (iteration, phase)
        self.aug_call = -1
        self.records = {}  # key -> list of arrays
        self.order = []
        self._orig = dict(randn=torch.randn, rand=torch.rand, randn_like=torch.randn_like, random_=torch.Tensor.random_)
        self._pending_aug = []
        self._noise_k = 0
        self.sequence = []  # Every recorded draw in order: (function, value).
        self._replay = None
        self.draw_dtype = "float32"
        self.source = None  # draw_seed's numpy Generator, or None: torch's own draws
        self.made = []  # With a source: [key, function, shape, args] per draw, in draw order.

    def replay(self, float64=False):
        """From now on, draws made in a phase return the recorded values, in order (as float64)."""
        self._replay = iter(self.sequence)
        self._float64 = float64

    def _replayed(self, fn, out):
        if self.context is None or self._replay is None:
            return out
        rec_fn, value = next(self._replay)
        if rec_fn != fn or tuple(value.shape) != tuple(out.shape):
            raise RuntimeError(f"replay: draw {fn}{tuple(out.shape)} where {rec_fn}{value.shape} was recorded")
        if fn == "random_":
            return out.fill_(int(value))
        return self.torch.from_numpy(value.astype(np.float64 if self._float64 else value.dtype))

    def install(self):
        torch = self.torch
        for name in ("randn", "rand", "randn_like"):
            setattr(torch, name, self._wrap(name, self._orig[name]))
        orig_random = self._orig["random_"]
        log = self

        def random_(tensor, *args, **kwargs):
            out = orig_random(tensor, *args, **kwargs)
            if log._replay is not None:
                return log._replayed("random_", out)
            if log.context is not None and log.source is not None:
                if len(args) != 2 or kwargs:
                    raise RuntimeError(f"draw_seed: random_{args} is not a (low, high) draw")
                out.fill_(int(log.make("random_", [], list(args))))
            log._record("random_", sys._getframe(1), out)
            return out

        torch.Tensor.random_ = random_

    def uninstall(self):
        for name in ("randn", "rand", "randn_like"):
            setattr(self.torch, name, self._orig[name])
        self.torch.Tensor.random_ = self._orig["random_"]

    def _wrap(self, name, fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            if self._replay is not None:
                return self._replayed(name, out)
            if self.context is not None and self.source is not None:
                out = self.torch.from_numpy(self.make(name, list(out.shape))).to(out.dtype)
            if self.context is not None and self.draw_dtype == "float16":
                out = self.torch.from_numpy(float16_grid(out.numpy(), down=name == "rand")).to(out.dtype)
            self._record(name, sys._getframe(1), out)
            return out

        return wrapped

    def make(self, fn, shape, args=(), key=None):
        """The next draw of `fn` from `source` (see `draw_seed`), noted in `made` (its key is
        filled in when the draw is named)."""
        self.made.append([key, fn, list(shape), list(args)])
        return make_draw(self.source, fn, shape, args)

    def start_phase(self, iteration, phase):
        self.context = (iteration, phase)
        self.aug_call = -1
        self._noise_k = 0

    def start_aug_call(self):
        if self._replay is not None:
            return
        self._flush_aug()
        self.aug_call += 1

    def end_phase(self):
        if self._replay is None:
            self._flush_aug()
        self.context = None

    def _put(self, key, value, index=None):
        self.records.setdefault(key, []).append(value)
        if self.source is not None:
            self.made[index][0] = key

    def _record(self, fn, frame, out):
        if self.context is None:
            return
        value = out.detach().cpu().numpy().copy()
        self.sequence.append((fn, value))
        index = len(self.made) - 1
        i, phase = self.context
        prefix = f"it{i}/{phase}/"
        src = os.path.basename(frame.f_code.co_filename)
        func = frame.f_code.co_name
        line = _source_line(frame)
        if src == "loss.py" and func == "run_G":
            name = {"random_": "mix_cutoff", "rand": "mix_gate", "randn_like": "mix_z"}[fn]
            self._put(prefix + name, value, index)
        elif src == "loss.py" and func == "accumulate_gradients" and fn == "randn_like":
            self._put(prefix + "pl_noise", value, index)
        elif src == "networks.py" and func == "forward" and "noise_strength" in line:
            self._put(prefix + f"noise{self._noise_k}", value, index)
            self._noise_k += 1
        elif src == "augment.py" and func == "forward":
            self._pending_aug.append((line, value, index))
        else:
            raise RuntimeError(f"unexpected random draw torch.{fn} in {src}:{func}: {line.strip()}")

    def _flush_aug(self):
        """Names the draws of one augment call from the official source lines: a gate line
        compares a uniform with `self.<transform> * self.p` (or `p_rot`); the draws before it
        are that transform's values."""
        if not self._pending_aug:
            return
        i, phase = self.context
        prefix = f"it{i}/{phase}/aug{self.aug_call}/"
        values = []
        last_gate = None
        for line, value, index in self._pending_aug:
            m = re.search(r"<\s*self\.(\w+)\s*\*\s*self\.p|<\s*(p_rot)\b", line)
            if m:
                gate = m.group(1) or "rotate"
                self._put(prefix + gate + "_gate", value, index)
                for v, i in values:
                    self._put(prefix + gate + "_value", v, i)
                values = []
                last_gate = gate
            elif "images + torch.randn" in line:
                self._put(prefix + "noise_pixels", value, index)
            elif line.strip().startswith("center =") and last_gate == "cutout":
                self._put(prefix + "cutout_center", value, index)
            else:
                values.append((value, index))
        if values:
            raise RuntimeError(f"augment draws without a gate: {[v.shape for v in values]}")
        self._pending_aug = []


def _source_line(frame):
    import linecache

    return linecache.getline(frame.f_code.co_filename, frame.f_lineno)


def _named_tensors(module, dtype=np.float32):
    """Parameters and buffers, less the constant resampling filters."""
    out = {n: p.detach().cpu().numpy().astype(dtype).copy() for n, p in module.named_parameters()}
    out.update(
        {
            n: b.detach().cpu().numpy().astype(dtype).copy()
            for n, b in module.named_buffers()
            if not n.endswith("resample_filter")
        }
    )
    return out


def _pack(data, layouts):
    """Packs per-tensor keys `<group>/<tensor>` of init/after/grad groups into one flat float32
    array per group (`<group>`; order and shapes in `layouts`): a few hundred small arrays
    would cost more in zip headers than in data."""
    out = {}
    groups = {}
    for key, value in data.items():
        m = re.fullmatch(r"(init/(G|D|G_ema)|it\d+/after/(G|D|G_ema)|it\d+/\w+/grad/(G|D))/(.+)", key)
        if m:
            groups.setdefault(m.group(1), {})[m.group(5)] = value
        else:
            out[key] = value
    for group, tensors in groups.items():
        net = group.split("/")[-1]
        layout = layouts["G" if net == "G_ema" else net]
        names = [n for n, _ in layout if n in tensors]
        if set(names) != set(tensors):
            raise RuntimeError(f"{group}: tensors outside the layout: {sorted(set(tensors) - set(names))}")
        if group.split("/")[-2] == "grad" and len(names) != len(tensors):
            raise RuntimeError(group)
        out[group] = np.concatenate([np.asarray(tensors[n], np.float32).reshape(-1) for n in names])
    return out


def _placeholder_sources(obj, torch):
    """Replaces the `module_src` each persistent object would pickle with a placeholder."""
    modules = obj.modules() if isinstance(obj, torch.nn.Module) else []
    for m in modules:
        if hasattr(type(m), "_orig_module_src"):
            m._orig_module_src = "# module source omitted (stylegan2-ada-pytorch, not redistributed)\n"


def _build(spec, checkout):
    sys.path.insert(0, checkout)
    import dnnlib
    import torch
    from training import augment, networks

    torch.manual_seed(spec["seed"])
    common = dict(c_dim=spec["c_dim"], img_resolution=spec["resolution"], img_channels=spec["img_channels"])
    # The channel table and precision settings G's synthesis network and D share.
    blocks = {name: spec[name] for name in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp")}
    G_kwargs = dict(
        z_dim=spec["z_dim"],
        w_dim=spec["w_dim"],
        mapping_kwargs=dict(num_layers=spec["mapping_layers"]),
        synthesis_kwargs=dict(blocks, architecture=spec["g_arch"]),
    )
    D_kwargs = dict(
        architecture=spec["d_arch"],
        **blocks,
        block_kwargs=dict(),
        mapping_kwargs=dict(),
        epilogue_kwargs=dict(mbstd_group_size=spec["mbstd_group"], mbstd_num_channels=spec["mbstd_channels"]),
    )
    G = networks.Generator(**G_kwargs, **common).train().requires_grad_(False)
    D = networks.Discriminator(**D_kwargs, **common).train().requires_grad_(False)
    if spec["perturb"]:
        # The official initialisation has zero biases and noise strengths; move them (and the
        # rest) a little so that every path carries signal.
        gen = torch.Generator().manual_seed(spec["seed"] + 1)
        for module in (G, D):
            for p in module.parameters():
                scale = spec["perturb"] * (p.abs().mean() if p.abs().mean() > 0 else 1.0)
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    G_ema = copy.deepcopy(G).eval()
    aug_kwargs = None
    pipe = None
    if spec["augpipe"]:
        aug_kwargs = spec["augpipe"]
        if not isinstance(aug_kwargs, dict):
            aug_kwargs = _official_augpipes(checkout)[aug_kwargs]
        if spec["aug_p"] > 0 or spec["ada_target"] is not None:
            pipe = augment.AugmentPipe(**aug_kwargs).train().requires_grad_(False)
            pipe.p.copy_(torch.as_tensor(spec["aug_p"]))
    kwargs = dict(G=dict(G_kwargs, **common), D=dict(D_kwargs, **common), augment=aug_kwargs)
    return torch, dnnlib, G, D, G_ema, pipe, kwargs


def _write_pickle(path, spec, torch, dnnlib, G, D, G_ema, pipe):
    """The initial networks as a stylegan2-ada-pytorch snapshot pickle (sources replaced)."""
    snapshot = dict(
        training_set_kwargs=dnnlib.EasyDict(
            class_name="training.dataset.ImageFolderDataset",
            resolution=spec["resolution"],
            use_labels=spec["c_dim"] > 0,
        ),
        augment_pipe=pipe,
    )
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        snapshot[name] = copy.deepcopy(module).eval().requires_grad_(False).cpu()
    if snapshot["augment_pipe"] is not None:
        snapshot["augment_pipe"] = copy.deepcopy(pipe).eval().requires_grad_(False).cpu()
    for v in snapshot.values():
        _placeholder_sources(v, torch)
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        pickle.dump(snapshot, f)


def _provenance(checkout, torch):
    """The original code and run a recording came from."""
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return dict(
        repository="NVlabs/stylegan2-ada-pytorch",
        commit=commit,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
    )


# How far the official run moves itself (`--float64_check`): the same iterations from the same
# weights and draws, each changed in one way (`--spread`: a list of `_variant_run` kinds). The
# recording stores, per quantity, its distance to each variant (`spread/<kind>/...`); the tests
# bound sg2tf's distance by a multiple of it.


# A nudge of one float32 rounding (the `nudge` spread) and of one float16 rounding (the float16
# pairs): relative, times N(0, 1) per weight.
FLOAT32_NUDGE, FLOAT16_NUDGE = 2.0**-24, 2.0**-11


def nudge_parameters(torch, modules, gen, scale):
    """Multiplies every parameter of `modules` by 1 + `scale` N(0, 1) (torch Generator `gen`)."""
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                p.mul_(1 + torch.randn(p.shape, generator=gen) * scale)


def _stacked(runs):
    """`{key: array}` of a list of `spreads` results, each key's values stacked on a first axis."""
    return {key: np.stack([np.asarray(r[key]) for r in runs]) for key in runs[0]}


def _variant_run(kind, spec, torch, initial, log, inputs, nudge=0, scale=FLOAT32_NUDGE, nudge_grid=True):
    """One official run from copies of `initial` (G, D, G_ema, pipe) and the recorded draws:
    `float64`: in float64 (exact arithmetic for float32's purposes); `nudge`: in the spec's
    precision from weights multiplied by 1 + `scale` N(0, 1) (`nudge`: the index of the nudge's
    seed) and, with `nudge_grid`, every sampling grid of the augmentation's geometric transform
    multiplied by 1 + 2^-24 N(0, 1); `threads`: float32 on one thread (two if the recording ran
    on one), which changes the order of the CPU kernels' sums.

    Why the grid: it is made from the draws alone, so a nudge of the weights leaves its rounding
    as it was, and the rounding of a sampling position (about 100 pixels, float32 spacing 8e-6)
    moves the sampled pixel by far more than one float32 rounding of its value. Another
    implementation rounds it its own way."""
    G, D, G_ema, pipe = (copy.deepcopy(m) for m in initial)
    restore = []
    threads, float32, default = torch.get_num_threads(), torch.float32, torch.get_default_dtype()
    log.replay(float64=kind == "float64")
    if kind == "float64":
        G, D, G_ema = (m.double().train().requires_grad_(False) for m in (G, D, G_ema))
        G_ema.eval()
        pipe = pipe.double().train() if pipe is not None else None
        # The official code casts to torch.float32 by name (mapping input, block dtypes): make
        # that name float64 for this run.
        torch.float32 = torch.float64
        torch.set_default_dtype(torch.float64)
    elif kind == "nudge":
        nudge_parameters(torch, (G, D), torch.Generator().manual_seed(spec["seed"] + 5 + nudge), scale)
        G_ema.load_state_dict(G.state_dict())
        if nudge_grid and pipe is not None:
            # numpy: the official code's torch draws are the recorded ones while it runs.
            grid_rng = np.random.default_rng(spec["seed"] + 1005 + nudge)
            affine_grid = torch.nn.functional.affine_grid

            def nudged_grid(*args, **kwargs):
                grid = affine_grid(*args, **kwargs)
                return grid * (1 + torch.from_numpy(grid_rng.standard_normal(grid.shape, np.float32)) * FLOAT32_NUDGE)

            torch.nn.functional.affine_grid = nudged_grid
            restore.append(lambda: setattr(torch.nn.functional, "affine_grid", affine_grid))
    elif kind == "threads":
        torch.set_num_threads(2 if threads == 1 else 1)
    else:
        raise ValueError(kind)
    data = {}
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        for k, v in _named_tensors(module, np.float64).items():
            data[f"init/{name}/{k}"] = v
    try:
        _run_loop(spec, torch, G, D, G_ema, pipe, log, data, inputs)
    finally:
        for undo in restore:
            undo()
        torch.float32 = float32
        torch.set_default_dtype(default)
        torch.set_num_threads(threads)
    return data


def spreads(data, other, parameters, layouts, last):
    """Distances of a run `other` to the recording `data` (both `{key: array}` as `_run_loop`
    writes them), as flat arrays in the order of `parameters`/`layouts` (NaN where absent):
    per phase the mean of each loss term (`it{i}/{P}/loss/{stat}`) and the norm of each
    gradient's difference (`it{i}/{P}/grad/{G|D}`); the norm of the difference of each tensor's
    accumulated update after the last iteration (`update/{G|D|G_ema}`); `pl_mean` and p after
    each iteration (`it{i}/pl_mean`, `it{i}/p`)."""

    def dist(a, b):
        return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))

    def update(run, net, name):
        return np.asarray(run[f"it{last}/after/{net}/{name}"], np.float64) - run[f"init/{net}/{name}"]

    out, grads = {}, {}
    for key, value in data.items():
        if re.fullmatch(r"it\d+/\w+/loss/.+", key) and key in other:
            out[key] = np.float32(abs(np.mean(value, dtype=np.float64) - np.mean(other[key], dtype=np.float64)))
        m = re.fullmatch(r"(it\d+/\w+/grad/(G|D))/(.+)", key)
        if m and key in other:
            grads.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = dist(value, other[key])
        m = re.fullmatch(r"(it\d+)/after/(pl_mean|p)", key)
        if m:
            out[f"{m.group(1)}/{m.group(2)}"] = np.float32(dist(value, other[key]))
    for (group, net), values in grads.items():
        out[group] = np.asarray([values.get(n, np.nan) for n in parameters[net]], np.float32)
    for net in ("G", "D", "G_ema"):
        # Updates from each run's own start (the nudge moves the start; a float32 tensor of
        # large values, such as the mapping weights at 1/lr_multiplier, rounds its updates).
        names = [n for n, _ in layouts["G" if net == "G_ema" else net]]
        out[f"update/{net}"] = np.asarray(
            [dist(update(data, net, n), update(other, net, n)) for n in names], np.float32
        )
    return out


def _copies(*modules):
    return [copy.deepcopy(m) for m in modules]


def _recording(spec, torch, G, D, G_ema, pipe, log, inputs):
    """Runs the loop on G, D, G_ema, pipe (drawing if `inputs` is None, else replaying `log`)
    and, with `float64_check`, the variant runs; returns `(data, spread)`."""
    initial = _copies(G, D, G_ema, pipe)
    data = {}
    for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
        for k, v in _named_tensors(module).items():
            data[f"init/{name}/{k}"] = v
    if inputs is not None:
        log.replay(float64=False)
    _run_loop(spec, torch, G, D, G_ema, pipe, log, data, inputs)
    for key, values in log.records.items():
        data[key] = values[0] if len(values) == 1 else np.stack(values)
    spread = {}
    if spec["float64_check"] and not spec["num_fp16_res"]:  # A float16 case's yardstick is its twin.
        parameters, layouts = _parameters_and_layouts(G, D)
        for kind in spec["spread"]:
            # One run per kind but `nudge`: a nudge's effect is a random variable (a nudge that
            # flips an lrelu pre-activation's sign moves a gradient by far more than one that
            # does not), sampled by `nudge_runs` runs whose distances are kept per run (stacked
            # on a first axis); the tests take the largest over the runs that stay on the
            # recording's trajectory.
            runs = []
            for k in range(spec["nudge_runs"] if kind == "nudge" else 1):
                other = _variant_run(kind, spec, torch, initial, log, data, nudge=k)
                runs.append(spreads(data, other, parameters, layouts, spec["iterations"] - 1))
            for key, values in _stacked(runs).items():
                spread[f"spread/{kind}/{key}"] = values if kind == "nudge" else values[0]
    return data, spread


def _float16_pairs(spec, twin_spec, torch, initial, twin_initial, log, inputs, G, D):
    """`spread/fp16_pairs/...`: how far the official float16 code gets from its float32 twin,
    sampled `fp16_pairs` times: pair k runs the float16 spec (copies of `initial`) and the twin
    spec (copies of `twin_initial`) from the same weights times 1 + 2^-11 N(0, 1) (nudge seed k)
    and the same draws, and stores the pair's distances, stacked on a first axis per key.

    Why a float16-sized nudge: float16 keeps 11 significant bits, so a float32-sized nudge
    (2^-24) leaves nearly every float16 value, and so every float16 rounding, as it was; such
    runs repeat one draw of the float16 error. A nudge of one float16 rounding moves each value
    to an independent place between float16 neighbours, and so samples which way each rounding
    goes; comparing float16 with float32 from the same nudged weights leaves out the nudge's
    own effect on the trajectory. The augmentation's grids are not nudged: both runs of a pair
    sample them in float32 alike, and a grid rounding's effect (~1e-5) is far below float16's."""
    parameters, layouts = _parameters_and_layouts(G, D)
    pairs = []
    for k in range(spec["fp16_pairs"]):
        nudged = dict(nudge=k, scale=FLOAT16_NUDGE, nudge_grid=False)
        half = _variant_run("nudge", spec, torch, initial, log, inputs, **nudged)
        full = _variant_run("nudge", twin_spec, torch, twin_initial, log, inputs, **nudged)
        for key, value in half.items():
            if key.startswith("init/") and not np.array_equal(value, full[key]):
                raise RuntimeError(f"float16 pair {k}: {key} is not nudged alike in both runs")
        pairs.append(spreads(full, half, parameters, layouts, spec["iterations"] - 1))
    return {f"spread/fp16_pairs/{key}": values for key, values in _stacked(pairs).items()}


def _parameters_and_layouts(G, D):
    """Parameter names and tensor layouts (parameters, then buffers) of G and D."""
    parameters = {name: [n for n, _ in module.named_parameters()] for name, module in (("G", G), ("D", D))}
    layouts = {
        name: [[k, list(v.shape)] for k, v in _named_tensors(module).items()] for name, module in (("G", G), ("D", D))
    }
    return parameters, layouts


def _write(out, spec, kwargs, G, D, data, spread, made=None, **meta):
    """`<out>.json` (spec, official kwargs, layouts) and `<out>.npz` (packed tensors); `made`:
    the draws made from `draw_seed` (`DrawLog.made`), left out of the .npz."""
    data = {
        k: (v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == np.float64 else v) for k, v in data.items()
    }
    if not spec["keep_every"]:
        last = spec["iterations"] - 1
        data = {
            k: v
            for k, v in data.items()
            if not re.match(r"it\d+/after/(G|D|G_ema)/", k) or k.startswith(f"it{last}/after/")
        }
    if spec["draw_dtype"] == "float16":
        for k, v in data.items():
            if DRAW_KEY.fullmatch(k) and np.asarray(v).dtype.kind == "f":
                if not np.array_equal(float16_grid(np.asarray(v)), v):
                    raise RuntimeError(f"{k}: not on the float16 grid")
                data[k] = np.asarray(v, np.float16)
    if made:
        keys = list(dict.fromkeys(key for key, *_ in made))
        draws = dict(generator="numpy PCG64", seed=spec["draw_seed"], dtype=spec["draw_dtype"], made=made)
        again = regenerate_draws(draws)
        for k in keys:
            if not (again[k].dtype == np.asarray(data[k]).dtype and np.array_equal(again[k], data[k])):
                raise RuntimeError(f"draw_seed: {k} is not made again as recorded")
        meta["draws"] = dict(draws, sha256=draws_digest(data, keys))
        data = {k: v for k, v in data.items() if k not in again}
    parameters, layouts = _parameters_and_layouts(G, D)
    with atomic_file(out + ".npz") as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **_pack(data, layouts), **spread)
    meta.update(spec=spec, official_kwargs=kwargs, layouts=layouts, parameters=parameters)
    with atomic_file(out + ".json") as tmp, open(tmp, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    return data


def record(spec, checkout, out):
    """Records `spec` to `<out>.{pkl,json,npz}`; a float16 spec (`num_fp16_res` > 0) also to its
    float32 twin `<out>-fp32.{json,npz}`: the same initial weights and draws with
    `num_fp16_res=0` (the yardstick of the float16 replay). Returns the recording's arrays."""
    torch, dnnlib, G, D, G_ema, pipe, kwargs = _build(spec, checkout)
    initial = _copies(G, D, G_ema, pipe)
    _write_pickle(out + ".pkl", spec, torch, dnnlib, G, D, G_ema, pipe)
    log = DrawLog(torch)
    log.draw_dtype = spec["draw_dtype"]
    if spec["draw_seed"] is not None:
        log.source = np.random.Generator(np.random.PCG64(spec["draw_seed"]))
    data, spread = _recording(spec, torch, G, D, G_ema, pipe, log, None)
    provenance = _provenance(checkout, torch)
    name = os.path.basename(out)
    twin = dict(twin=name + "-fp32") if spec["num_fp16_res"] else {}
    if twin:
        twin_spec = dict(spec, num_fp16_res=0)
        torch, _, G2, D2, G_ema2, pipe2, kwargs2 = _build(twin_spec, checkout)
        for module, source in zip((G2, D2, G_ema2, pipe2), initial):
            if module is not None:
                module.load_state_dict(source.state_dict())
        twin_initial = _copies(G2, D2, G_ema2, pipe2)
        twin_data, twin_spread = _recording(twin_spec, torch, G2, D2, G_ema2, pipe2, log, data)
        if spec["float64_check"]:
            spread.update(_float16_pairs(spec, twin_spec, torch, initial, twin_initial, log, data, G, D))
        meta = dict(recorded_with=provenance, twin_of=name)
        _write(out + "-fp32", twin_spec, kwargs2, G2, D2, twin_data, twin_spread, made=log.made, **meta)
    return _write(out, spec, kwargs, G, D, data, spread, made=log.made, recorded_with=provenance, **twin)


def _run_loop(spec, torch, G, D, G_ema, pipe, log, data, inputs):
    """Runs the iterations of the official loop's phases; writes what it records into `data`.
    `inputs`: None to draw the inputs (recording), or a previous run's `data` to reuse them."""
    from torch_utils import misc, training_stats
    from training import augment
    from training import loss as loss_module

    dtype = next(G.parameters()).dtype
    loss = loss_module.StyleGAN2Loss(
        device=torch.device("cpu"),
        G_mapping=G.mapping,
        G_synthesis=G.synthesis,
        D=D,
        augment_pipe=pipe,
        style_mixing_prob=spec["style_mixing_prob"],
        r1_gamma=spec["r1_gamma"],
        pl_batch_shrink=spec["pl_batch_shrink"],
        pl_decay=spec["pl_decay"],
        pl_weight=spec["pl_weight"],
    )
    loss.pl_mean = loss.pl_mean.to(dtype)
    # Phases and optimizers as the official training loop sets them up.
    phases = []
    for name, module, lr, reg_interval in (
        ("G", G, spec["glr"], spec["g_reg_interval"]),
        ("D", D, spec["dlr"], spec["d_reg_interval"]),
    ):
        if reg_interval is None:
            opt = torch.optim.Adam(module.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
            phases.append(dict(name=name + "both", module=module, opt=opt, interval=1))
        else:
            ratio = reg_interval / (reg_interval + 1)
            opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=(0.0**ratio, 0.99**ratio), eps=1e-8)
            phases.append(dict(name=name + "main", module=module, opt=opt, interval=1))
            phases.append(dict(name=name + "reg", module=module, opt=opt, interval=reg_interval))

    reports = {}
    orig_report = training_stats.report

    def report(name, value):
        if log.context is not None:
            key = name.replace("Loss/", "").replace("/", "_")
            reports.setdefault(key, []).append(value.detach().cpu().numpy().astype(np.float32).copy())
        return orig_report(name, value)

    training_stats.report = report
    orig_forward = augment.AugmentPipe.forward

    def aug_forward(self, images, debug_percentile=None):
        log.start_aug_call()
        return orig_forward(self, images, debug_percentile)

    augment.AugmentPipe.forward = aug_forward
    ada_stats = None
    if pipe is not None and spec["ada_target"] is not None:
        ada_stats = training_stats.Collector(regex="Loss/signs/real")
        ada_stats.update()  # Forget what an earlier run reported.

    rng = np.random.RandomState(spec["seed"] + 2)
    B, res, ch, c_dim = spec["batch"], spec["resolution"], spec["img_channels"], spec["c_dim"]

    def labels(n):
        c = np.zeros([n, c_dim], np.float32)
        if c_dim:
            c[np.arange(n), rng.randint(c_dim, size=n)] = 1
        return c

    cur_nimg = 0
    data_gen = torch.Generator().manual_seed(spec["seed"] + 3)
    log.install()
    try:
        for it in range(spec["iterations"]):
            if inputs is None:
                if log.source is not None:
                    real_img = log.make("uniform", [B, ch, res, res], key=f"it{it}/real_img")
                else:
                    real_img = rng.uniform(-1, 1, size=[B, ch, res, res]).astype(np.float32)
                if spec["draw_dtype"] == "float16":
                    real_img = float16_grid(real_img)
                real_c = labels(B)
                all_gen_z = torch.randn([len(phases) * B, G.z_dim], generator=data_gen).split(B)
                all_gen_c = torch.from_numpy(labels(len(phases) * B)).split(B)
            else:
                real_img, real_c = inputs[f"it{it}/real_img"], inputs[f"it{it}/real_c"]
                all_gen_z = [
                    torch.from_numpy(inputs[f"it{it}/{ph['name']}/gen_z"])
                    if f"it{it}/{ph['name']}/gen_z" in inputs
                    else None
                    for ph in phases
                ]
                all_gen_c = [
                    torch.from_numpy(inputs[f"it{it}/{ph['name']}/gen_c"])
                    if f"it{it}/{ph['name']}/gen_c" in inputs
                    else None
                    for ph in phases
                ]
            data[f"it{it}/real_img"], data[f"it{it}/real_c"] = real_img, real_c
            for phase, gen_z, gen_c in zip(phases, all_gen_z, all_gen_c):
                if it % phase["interval"] != 0:
                    continue
                pname = phase["name"]
                pre = f"it{it}/{pname}/"
                gen_z, gen_c = gen_z.to(dtype), gen_c.to(dtype)
                data[pre + "gen_z"] = gen_z.numpy().astype(np.float32)
                data[pre + "gen_c"] = gen_c.numpy().astype(np.float32)
                reports.clear()
                log.start_phase(it, pname)
                phase["opt"].zero_grad(set_to_none=True)
                phase["module"].requires_grad_(True)
                loss.accumulate_gradients(
                    phase=pname,
                    real_img=torch.from_numpy(real_img).to(dtype),
                    real_c=torch.from_numpy(real_c).to(dtype),
                    gen_z=gen_z,
                    gen_c=gen_c,
                    sync=True,
                    gain=phase["interval"],
                )
                phase["module"].requires_grad_(False)
                log.end_phase()
                for k, v in reports.items():
                    data[pre + "loss/" + k] = np.concatenate([a.reshape(-1) for a in v])
                for name, param in phase["module"].named_parameters():
                    if param.grad is not None:
                        misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
                        data[pre + f"grad/{pname[0]}/{name}"] = param.grad.numpy().copy()
                phase["opt"].step()
            # G_ema, counters and ADA, as the official loop does them.
            ema_nimg = spec["ema_kimg"] * 1000
            if spec["ema_rampup"] is not None:
                ema_nimg = min(ema_nimg, cur_nimg * spec["ema_rampup"])
            ema_beta = 0.5 ** (B / max(ema_nimg, 1e-8))
            for p_ema, p in zip(G_ema.parameters(), G.parameters()):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(G_ema.buffers(), G.buffers()):
                b_ema.copy_(b)
            cur_nimg += B
            batch_idx = it + 1
            if ada_stats is not None and batch_idx % spec["ada_interval"] == 0:
                ada_stats.update()
                rt = ada_stats["Loss/signs/real"]
                adjust = np.sign(rt - spec["ada_target"]) * (B * spec["ada_interval"]) / (spec["ada_kimg"] * 1000)
                pipe.p.copy_((pipe.p + adjust).max(misc.constant(0, dtype=pipe.p.dtype)))
                data[f"it{it}/after/ada_rt"] = np.float32(rt)
            for name, module in (("G", G), ("D", D), ("G_ema", G_ema)):
                for k, v in _named_tensors(module, np.float64 if dtype == torch.float64 else np.float32).items():
                    data[f"it{it}/after/{name}/{k}"] = v
            data[f"it{it}/after/pl_mean"] = loss.pl_mean.numpy().astype(np.float32)
            data[f"it{it}/after/p"] = np.float32(pipe.p.item() if pipe is not None else 0.0)
    finally:
        log.uninstall()
        training_stats.report = orig_report
        augment.AugmentPipe.forward = orig_forward


def _parse_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", required=True, help="path of a stylegan2-ada-pytorch checkout")
    parser.add_argument("--out", required=True, help="output path without extension (.pkl, .json, .npz)")
    parser.add_argument("--spec", help="JSON file (or inline JSON object) of spec keys")
    for key in DEFAULTS:
        parser.add_argument("--" + key, type=_parse_value, help=f"spec key (default {DEFAULTS[key]!r})")
    args = parser.parse_args(argv)
    spec = dict(DEFAULTS)
    if args.spec:
        text = args.spec if args.spec.lstrip().startswith("{") else open(args.spec).read()
        given = json.loads(text)
        unknown = sorted(set(given) - set(DEFAULTS))
        if unknown:
            parser.error(f"--spec: unknown keys {unknown}; known: {sorted(DEFAULTS)}")
        spec.update(given)
    for key in DEFAULTS:
        if getattr(args, key) is not None:
            spec[key] = getattr(args, key)
    if not os.path.isfile(os.path.join(args.checkout, "training", "loss.py")):
        parser.error(f"--checkout={args.checkout}: not a stylegan2-ada-pytorch checkout (no training/loss.py)")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    data = record(spec, args.checkout, args.out)
    size = os.path.getsize(args.out + ".npz")
    print(f"wrote {args.out}.{{pkl,json,npz}}: {len(data)} arrays, npz {size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
