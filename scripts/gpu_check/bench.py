"""Timings of sg2tf's CUDA kernels against the official stylegan2-ada-pytorch kernels.

Used by gpu_check.py on a GPU (needs PyTorch). The official kernels are compiled at run
time by torch.utils.cpp_extension from a checkout given on the command line (never part
of sg2tf), in two background processes started before the parity checks so that their
compilation overlaps them; `python bench.py --build NAME OPS_DIR BUILD_DIR` is that
process.

Shapes: StyleGAN2 config-f layers (channels min(32768 / res, 512)) at 256 and 1024 px,
batch 32, float16 and float32: bias_act (lrelu, gain sqrt 2, clamp 256; forward and the
first-order gradient), and upfirdn2d with the [1, 3, 3, 1] filter as the generator's
upsampling (up 2), its filter after the transposed convolution, and the
discriminator's downsampling (down 2). sg2tf runs NHWC; the official kernels run both
NCHW and channels-last (the layout official training uses for float16 layers) and the
faster counts. bias_act's bandwidth is bytes read and written over the time, against
the device's peak (2 * memory clock * bus width) and a device-to-device copy.
"""

import glob
import math
import os
import statistics
import subprocess
import sys
import time

OFFICIAL_OPS = {"bias_act": ["bias_act.cpp", "bias_act.cu"], "upfirdn2d": ["upfirdn2d.cpp", "upfirdn2d.cu"]}


def _ops_dir(official):
    for d in [official, os.path.join(official, "torch_utils", "ops")]:
        if d and os.path.isfile(os.path.join(d, "bias_act.cu")):
            return os.path.abspath(d)
    return None


def _extra_includes():
    """Headers of the CUDA libraries PyTorch's headers include (cusparse.h, ...) where
    they come as pip packages (nvidia-*) rather than with the toolkit."""
    out = []
    for p in sys.path:
        out += glob.glob(os.path.join(p, "nvidia", "*", "include"))
        out += glob.glob(os.path.join(p, "nvidia", "cu*", "*", "include"))
    return sorted({d for d in out if os.path.isdir(d)})


def load_official(name, ops_dir, build_dir, verbose=False):
    """Builds (or, when up to date, only loads) one official op as a PyTorch extension,
    with the official code's own flag (--use_fast_math)."""
    from torch.utils import cpp_extension

    d = os.path.join(build_dir, name)
    os.makedirs(d, exist_ok=True)
    return cpp_extension.load(
        name=f"sg2tf_check_official_{name}",
        sources=[os.path.join(ops_dir, f) for f in OFFICIAL_OPS[name]],
        extra_cuda_cflags=["--use_fast_math"],
        extra_include_paths=_extra_includes(),
        build_directory=d,
        verbose=verbose,
    )


class OfficialBuild:
    """The background compilation of the official ops."""

    def __init__(self, official, build_dir, device):
        self.ops_dir = _ops_dir(official)
        self.build_dir = os.path.abspath(build_dir)
        self.procs = {}
        self.logs = {}
        self.started = time.time()
        self.error = None
        if self.ops_dir is None:
            self.error = (
                f"no official ops at {official!r} (run scripts/gpu_check.sh --prepare "
                "and carry .gpu_check/carry, or pass --official)"
            )
            return
        # Same arch list in the builders and in this process, so that loading does not
        # rebuild.
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", device.get("cc", "9.0"))
        os.makedirs(self.build_dir, exist_ok=True)
        for name in OFFICIAL_OPS:
            log = os.path.join(self.build_dir, f"{name}.log")
            self.logs[name] = log
            with open(log, "w") as fh:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, os.path.abspath(__file__), "--build", name, self.ops_dir, self.build_dir],
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )

    def wait(self, seconds):
        """Waits at most `seconds` more for the builds; {name: module or error string}."""
        out = {} if self.error is None else {name: self.error for name in OFFICIAL_OPS}
        deadline = time.time() + seconds
        for name, proc in self.procs.items():
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                out[name] = f"build did not finish in {time.time() - self.started:.0f} s (log: {self.logs[name]})"
                continue
            if rc != 0:
                with open(self.logs[name]) as fh:
                    out[name] = "build failed: " + fh.read()[-1500:]
                continue
            try:
                out[name] = load_official(name, self.ops_dir, self.build_dir)
            except Exception as e:  # noqa: BLE001 - reported, the bench goes on without it
                out[name] = f"load failed: {e}"[:1500]
        return out

    def cleanup(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()


def start_official_build(official, build_dir, device):
    return OfficialBuild(official, build_dir, device)


def _time_ms(fn, torch, rounds=5, min_round_ms=30.0, max_reps=100):
    """Median over rounds of the mean time per call (CUDA events), after warm-up."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    reps = max(3, min(max_reps, int(min_round_ms / max(start.elapsed_time(end), 1e-3))))
    times = []
    for _ in range(rounds):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / reps)
    return statistics.median(times)


def _rel_err(torch, ref, got):
    ref = ref.float()
    scale = ref.abs().max().item()
    err = (ref - got.float()).abs().max().item()
    return err / scale if scale > 0 else err


def bench_cases():
    out = []
    for res in (256, 1024):
        ch = min(32768 // res, 512)
        for dtype in ("float16", "float32"):
            base = dict(res=res, dtype=dtype, batch=32, channels=ch)
            out.append(dict(base, op="bias_act", kind="forward", hw=(res, res)))
            out.append(dict(base, op="bias_act", kind="grad", hw=(res, res)))
            out.append(
                dict(
                    base,
                    op="upfirdn2d",
                    kind="up2",
                    hw=(res // 2, res // 2),
                    updown=(2, 2, 1, 1),
                    pad=(2, 1, 2, 1),
                    gain=4.0,
                )
            )
            out.append(
                dict(
                    base,
                    op="upfirdn2d",
                    kind="filter",
                    hw=(res + 1, res + 1),
                    updown=(1, 1, 1, 1),
                    pad=(1, 1, 1, 1),
                    gain=4.0,
                )
            )
            out.append(
                dict(base, op="upfirdn2d", kind="down2", hw=(res, res), updown=(1, 1, 2, 2), pad=(1, 1, 1, 1), gain=1.0)
            )
    return out


def _copy_bandwidth(torch):
    a = torch.empty(1 << 30, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    ms = _time_ms(lambda: b.copy_(a), torch)
    nbytes = 2 * a.numel() * 4
    return dict(bytes=nbytes, ms=round(ms, 4), gbs=round(nbytes / ms / 1e6, 1))


def run(h, official, device, budget):
    """Times every case that fits in `budget` seconds; returns the report's bench part."""
    import ctypes

    import numpy as np
    import torch

    t0 = time.time()
    res = dict(device=torch.cuda.get_device_name(0), torch=torch.__version__, cases=[])
    peak = device.get("peak_bandwidth_gbs")
    res["peak_bandwidth_gbs"] = peak
    try:
        res["copy"] = _copy_bandwidth(torch)
    except Exception as e:  # noqa: BLE001
        res["copy"] = dict(error=str(e)[:500])
    # Leave about a minute and a half for the timings.
    mods = official.wait(max(20.0, budget - (time.time() - t0) - 90.0))
    res["official"] = {k: ("ok" if not isinstance(v, str) else v) for k, v in mods.items()}
    res["official_build_s"] = round(time.time() - official.started, 1)
    stream = torch.cuda.current_stream().cuda_stream
    sqrt2 = math.sqrt(2.0)
    f2d = torch.tensor(np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0, dtype=torch.float32, device="cuda")
    fshape = (ctypes.c_int * 2)(4, 4)
    for case in bench_cases():
        row = dict(case)
        res["cases"].append(row)
        if time.time() - t0 > budget - 15:
            row["skipped"] = "out of time"
            continue
        try:
            _bench_case(h, torch, mods, row, stream, sqrt2, f2d, fshape, peak)
        except Exception as e:  # noqa: BLE001 - one failing case must not lose the rest
            row["error"] = f"{type(e).__name__}: {e}"[:500]
        torch.cuda.empty_cache()
        line = {
            k: row.get(k)
            for k in ("op", "kind", "res", "dtype", "sg2tf_ms", "official_ms", "speedup", "bandwidth_fraction", "error")
        }
        print(f"  bench {line}", flush=True)
    res["seconds"] = round(time.time() - t0, 1)
    res["ok"] = not any("error" in c for c in res["cases"])
    return res


def _bench_case(h, torch, mods, row, stream, sqrt2, f2d, fshape, peak):
    import ctypes

    dtype = getattr(torch, row["dtype"])
    dt = 0 if row["dtype"] == "float32" else 1
    n, c = row["batch"], row["channels"]
    hh, ww = row["hw"]
    x = torch.randn(n, hh, ww, c, dtype=dtype, device="cuda")  # NHWC
    x_cl = x.permute(0, 3, 1, 2)  # NCHW view in channels-last memory
    layouts = {"nchw": lambda t: t.permute(0, 3, 1, 2).contiguous(), "channels_last": None}
    esize = x.element_size()
    timings = {}
    if row["op"] == "bias_act":
        b = torch.randn(c, dtype=dtype, device="cuda")
        size = x.numel()
        out = torch.empty_like(x)
        grad = row["kind"] == "grad"
        dy = torch.randn_like(x) if grad else None

        def ours():
            return h.lib.sg2tf_check_bias_act_gpu_dev(
                dt,
                x.data_ptr(),
                b.data_ptr(),
                dy.data_ptr() if grad else None,
                out.data_ptr(),
                size,
                c,
                1,
                1 if grad else 0,
                3,
                0.2,
                sqrt2,
                256.0,
                stream,
            )

        h.check(ours(), "bias_act (bench)")
        timings["sg2tf"] = _time_ms(ours, torch)
        row["bytes"] = (3 if grad else 2) * size * esize + c * esize
        mod = mods.get("bias_act")
        if mod is not None and not isinstance(mod, str):
            null = torch.empty([0], dtype=dtype, device="cuda")
            for name, conv in layouts.items():
                xo = x_cl if conv is None else conv(x)
                yo = mod.bias_act(xo, b, null, null, null, 0, 1, 3, 0.2, sqrt2, 256.0)
                if grad:
                    dyo = dy.permute(0, 3, 1, 2) if conv is None else conv(dy)
                    fn = lambda xo=xo, yo=yo, dyo=dyo: mod.bias_act(dyo, b, xo, yo, null, 1, 1, 3, 0.2, sqrt2, 256.0)
                else:
                    fn = lambda xo=xo: mod.bias_act(xo, b, null, null, null, 0, 1, 3, 0.2, sqrt2, 256.0)
                ref = fn()
                torch.cuda.synchronize()
                row[f"vs_official_{name}_rel_err"] = _rel_err(torch, ref.permute(0, 2, 3, 1), out)
                timings[f"official_{name}"] = _time_ms(fn, torch)
                del xo, yo, ref
        ms = timings["sg2tf"]
        row["sg2tf_gbs"] = round(row["bytes"] / ms / 1e6, 1)
        if peak:
            row["bandwidth_fraction"] = round(row["sg2tf_gbs"] / peak, 4)
    else:
        upx, upy, downx, downy = row["updown"]
        padx0, padx1, pady0, pady1 = row["pad"]
        xshape = (ctypes.c_int64 * 4)(n, hh, ww, c)
        ud = (ctypes.c_int * 4)(*row["updown"])
        pd = (ctypes.c_int * 4)(*row["pad"])
        hw = (ctypes.c_int * 2)()
        h.check(h.lib.sg2tf_check_upfirdn2d_out_size(dt, xshape, 2, fshape, ud, pd, hw), "size")
        out = torch.empty(n, hw[0], hw[1], c, dtype=dtype, device="cuda")
        row["out_hw"] = (hw[0], hw[1])

        def ours():
            return h.lib.sg2tf_check_upfirdn2d_gpu_dev(
                dt, x.data_ptr(), xshape, f2d.data_ptr(), 2, fshape, ud, pd, 0, row["gain"], out.data_ptr(), stream
            )

        h.check(ours(), "upfirdn2d (bench)")
        timings["sg2tf"] = _time_ms(ours, torch)
        mod = mods.get("upfirdn2d")
        if mod is not None and not isinstance(mod, str):
            for name, conv in layouts.items():
                xo = x_cl if conv is None else conv(x)
                fn = lambda xo=xo: mod.upfirdn2d(
                    xo, f2d, upx, upy, downx, downy, padx0, padx1, pady0, pady1, False, row["gain"]
                )
                ref = fn()
                torch.cuda.synchronize()
                row[f"vs_official_{name}_rel_err"] = _rel_err(torch, ref.permute(0, 2, 3, 1), out)
                timings[f"official_{name}"] = _time_ms(fn, torch)
                del xo, ref
        row["bytes"] = (x.numel() + out.numel()) * esize
        row["sg2tf_gbs"] = round(row["bytes"] / timings["sg2tf"] / 1e6, 1)
    row["timings_ms"] = {k: round(v, 4) for k, v in timings.items()}
    row["sg2tf_ms"] = round(timings["sg2tf"], 4)
    off = [v for k, v in timings.items() if k.startswith("official_")]
    if off:
        row["official_ms"] = round(min(off), 4)
        row["speedup"] = round(min(off) / timings["sg2tf"], 3)
    for k in [k for k in row if k.endswith("_rel_err")]:
        row[k] = float(f"{row[k]:.3g}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--build":
        _, _, op_name, ops, build = sys.argv
        t = time.time()
        load_official(op_name, ops, build, verbose=True)
        print(f"built {op_name} in {time.time() - t:.1f} s")
    else:
        sys.exit("usage: bench.py --build NAME OPS_DIR BUILD_DIR")
