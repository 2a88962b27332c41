"""The `--cfg` presets of sg2tf-train. No TensorFlow: flag modules import this module.

The official StyleGAN2-ADA presets (its train.py `cfg_specs`) plus `tiny` and `demo`.
Each preset holds: `ref_gpus` (the GPU count the preset was tuned for: the default per-GPU
batch is `mb // ref_gpus`), `kimg`, `mb` (global batch), `mbstd` (minibatch-stddev group),
`fmaps` (width factor: channels `min(fmaps * 32768 / res, 512)`), `lrate`, `gamma`, `ema`
(G_ema half-life in kimg), `ramp` (G_ema ramp-up), `map` (mapping layers); a preset may add
defaults of other options by their option names (`fmap_max`, `w_dim`, `channels`,
`pl_weight`, `mixing`, `noise_mode`, `g_reg_interval`, `adam`). `auto` (-1 entries) is computed from the resolution
and the replica count by `preset_values`.
"""

import collections
import os

from sg2tf.errors import UserError

# The fields every preset sets, in the column order of the table below.
_Row = collections.namedtuple("_Row", "ref_gpus kimg mb mbstd fmaps lrate gamma ema ramp map")
_TABLE = {
    # name: _Row(ref_gpus, kimg, mb, mbstd, fmaps, lrate, gamma, ema, ramp, map)
    "auto": _Row(-1, 25000, -1, -1, -1, -1, -1, -1, 0.05, 2),
    "stylegan2": _Row(8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    "paper256": _Row(8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    "paper512": _Row(8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    "paper1024": _Row(8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    "cifar": _Row(2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2),
    # Small and fast, the full recipe: CPU tests and experiments at 8-32 px (128 channels up to
    # 32 px, 64 at 64 px).
    "tiny": _Row(1, 500, 16, 4, 1 / 8, 0.0025, 0.05, 2, 0.05, 2),
    # The embedded demo (`./run.sh demo`): 32 px shapes on 2 CPU cores, about 10 minutes for
    # 200 kimg, where the shapes are recognisable. Narrow (32 channels, 16 at 16 and 32 px,
    # where most of the arithmetic is), like `cifar` without path length and style mixing,
    # without noise inputs (flat shapes have no stochastic detail), and with a high learning
    # rate: together these reach recognisable shapes in the fewest CPU seconds; batch 32 is
    # the fastest per kimg on 2 cores (docs/training.md has the measurements).
    "demo": _Row(1, 200, 32, 4, 1 / 8, 0.008, 0.2, 2, 0.05, 2),
}
# Defaults of other options, by their option names, that a preset adds.
_OTHER_OPTIONS = {
    "cifar": dict(pl_weight=0.0, mixing=0.0, d_arch="orig"),
    "tiny": dict(fmap_max=128, w_dim=128),
    "demo": dict(
        fmap_max=32,
        channels="16:16,32:16",
        w_dim=128,
        pl_weight=0.0,
        mixing=0.0,
        noise_mode="none",
        # Tuned without a lazy G phase: G's Adam is not scaled by 4/5 as it is in the originals
        # (which keep the G interval even with path length off).
        g_reg_interval=0,
        # Tuned with the TF1 code's Adam (epsilon before the bias correction); seed 0 scores
        # shape-FD 80 with it at 200 kimg and 365 with torch's placement (docs/training.md).
        adam="tf1",
    ),
}
PRESETS = {name: {**row._asdict(), **_OTHER_OPTIONS.get(name, {})} for name, row in _TABLE.items()}


class PresetError(UserError, ValueError):
    """An unknown preset name."""


def preset_values(cfg, resolution, replicas):
    """The preset's values for a dataset resolution and replica count (the `auto` formulas)."""
    if cfg not in PRESETS:
        raise PresetError(f"--cfg: unknown preset {cfg!r}; choose from {sorted(PRESETS)}")
    spec = dict(PRESETS[cfg])
    if cfg == "auto":
        res = resolution
        spec["ref_gpus"] = replicas
        spec["mb"] = max(min(replicas * min(4096 // res, 32), 64), replicas)
        spec["mbstd"] = min(spec["mb"] // replicas, 4)
        spec["fmaps"] = 1 if res >= 512 else 0.5
        spec["lrate"] = 0.002 if res >= 1024 else 0.0025
        spec["gamma"] = 0.0002 * (res**2) / spec["mb"]
        spec["ema"] = spec["mb"] * 10 / 32
    return spec


# What a kimg costs on a CPU, at 64x64 on this project's machine (2 cores, AMD EPYC Zen 4, no GPU):
# seconds per kimg on its 2 cores, and peak memory in GiB.
#   auto: `sg2tf-bench train --cfg=auto --resolution=64 --steps=4` (batch 32, ADA, synthetic data),
#     2026-12-07 with other jobs running: 2038 CPU seconds (all threads) per kimg, i.e. about
#     1019 s/kimg on the 2 cores, peak RSS 5.76 GiB (issue 32's walkthrough saw about 1000 s/kimg
#     and 5.5 GiB in sg2tf-train).
#   tiny: docs/training.md's `sg2tf-bench compare --task=train` series of 2026-11-22 (batch 16,
#     custom ops, quiet machine): 105.3 s/kimg, worker RSS 1.75 GiB.
CPU_COST_64PX = {"auto": (1019.0, 5.76), "tiny": (105.3, 1.75)}
MEASURED_CORES = 2
CPU_PRESET = "tiny"  # the preset to suggest on a CPU


def cpu_cost(cfg, resolution, cores=None):
    """`(seconds per kimg, peak GiB)` of `cfg` on a CPU with `cores` cores (default: this
    machine's), from `CPU_COST_64PX`: time scaled by the pixel count from 64x64 (the
    convolutions' work grows with it) and by the core count; memory as measured at 64x64.
    None for a preset not measured."""
    if cfg not in CPU_COST_64PX:
        return None
    secs, gib = CPU_COST_64PX[cfg]
    return secs * (resolution / 64) ** 2 * MEASURED_CORES / (cores or os.cpu_count() or 1), gib


def cpu_warning(cfg, resolution, cores=None):
    """For `--cfg=auto` on a machine without a GPU: what a kimg will cost there and the
    CPU-sized preset to use instead (one line); None otherwise. The official `auto` formulas
    size the networks for GPUs; on a CPU the first snapshot comes after hours."""
    if cfg != "auto":
        return None
    secs, gib = cpu_cost(cfg, resolution, cores)
    small, small_gib = cpu_cost(CPU_PRESET, resolution, cores)
    return (
        f"--cfg=auto sizes the networks for GPUs; on this CPU expect about {secs:,.0f} s/kimg at "
        f"{resolution}x{resolution} and {gib:.1f} GiB of memory (measured at 64x64); --cfg={CPU_PRESET} "
        f"takes about {small:,.0f} s/kimg and {small_gib:.1f} GiB"
    )
