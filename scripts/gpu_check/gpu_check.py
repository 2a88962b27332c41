"""GPU check of sg2tf's bias_act and upfirdn2d kernels, without TensorFlow.

Run through scripts/gpu_check.sh, which builds the harness library (capi.cc with the CPU
kernels' headers, linked with the ops' own CUDA sources) and calls this with --lib.

  full          (a GPU is present) parity of the CUDA kernels against the CPU kernels and
                a float64 numpy reference on every case of cases.py, float32 and float16,
                forward and gradients (and the kernels' 64-bit-index variants on the
                small cases); compute-sanitizer memcheck on the small cases;
                timings against the official stylegan2-ada-pytorch kernels (bench.py)
                and bias_act's memory bandwidth against the device's; the float16
                gradients sg2tf sums over batch and pixels, at a 256 px block's size,
                summed in float32 against float64 (`run_reductions`).
  compile-only  (no GPU) the CPU kernels against the numpy reference on every case but
                the large ones, and the float16 gradient sums at a small size: checks the
                harness itself.

Writes one JSON report (--report) and prints the worst error of each case. Exit status:
0 when every check that ran passed, 1 otherwise (speed and bandwidth goals are reported,
not enforced), 2 for a usage or setup error.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import cases as C  # noqa: E402 (beside this script)
import reference as R  # noqa: E402

DTYPE_CODE = {"float32": 0, "float16": 1}
_P = ctypes.c_void_p
_I64 = ctypes.c_int64
_I = ctypes.c_int
_F = ctypes.c_float
_I64P = ctypes.POINTER(ctypes.c_int64)
_IP = ctypes.POINTER(ctypes.c_int)


class HarnessError(RuntimeError):
    pass


class Harness:
    """ctypes view of the harness library (scripts/gpu_check/capi.cc)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.lib = ctypes.CDLL(self.path)
        lib = self.lib
        bias_args = [_I, _P, _P, _P, _P, _I64, _I64, _I64, _I, _I, _F, _F, _F]
        up_args = [_I, _P, _I64P, _P, _I, _IP, _IP, _IP, _I, _F, _P]
        sigs = {
            "sg2tf_check_has_cuda": ([], _I),
            "sg2tf_check_error": ([_I], ctypes.c_char_p),
            "sg2tf_check_act_code": ([ctypes.c_char_p], _I),
            "sg2tf_check_bias_act_cpu": (bias_args, _I),
            "sg2tf_check_bias_act_gpu": (bias_args, _I),
            "sg2tf_check_bias_act_gpu_dev": (bias_args + [_P], _I),
            "sg2tf_check_upfirdn2d_out_size": ([_I, _I64P, _I, _IP, _IP, _IP, _IP], _I),
            "sg2tf_check_upfirdn2d_cpu": (up_args + [_I, _IP], _I),
            "sg2tf_check_upfirdn2d_gpu": (up_args, _I),
            "sg2tf_check_upfirdn2d_gpu_dev": (up_args + [_P], _I),
            "sg2tf_check_device_info": ([_I, _I64P, ctypes.c_char_p], _I),
            "sg2tf_check_fast_div": ([ctypes.c_uint32, ctypes.c_uint32], ctypes.c_uint32),
        }
        for name, (args, res) in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = res
        self.has_cuda = bool(lib.sg2tf_check_has_cuda())

    def check(self, code, what):
        if code != 0:
            raise HarnessError(f"{what}: {self.lib.sg2tf_check_error(code).decode()} ({code})")

    def device_info(self):
        info = (ctypes.c_int64 * 7)()
        name = ctypes.create_string_buffer(256)
        code = self.lib.sg2tf_check_device_info(0, info, name)
        if code != 0:
            return dict(count=0, error=self.lib.sg2tf_check_error(code).decode())
        out = dict(count=int(info[0]))
        if out["count"]:
            clock_khz, bus_bits = int(info[4]), int(info[5])
            out.update(
                name=name.value.decode(),
                cc=f"{info[1]}.{info[2]}",
                multiprocessors=int(info[3]),
                memory_clock_khz=clock_khz,
                memory_bus_bits=bus_bits,
                l2_bytes=int(info[6]),
                peak_bandwidth_gbs=2.0 * clock_khz * 1e3 * bus_bits / 8 / 1e9,
            )
        return out

    # --- bias_act
    def bias_act(self, device, x, b, dy, axis, code, alpha, gain, clamp, order):
        size, channels, inner = C.bias_act_layout(x.shape, axis)
        out = np.empty_like(x)
        fn = self.lib.sg2tf_check_bias_act_cpu if device == "cpu" else self.lib.sg2tf_check_bias_act_gpu
        ptr = lambda a: None if a is None else a.ctypes.data
        self.check(
            fn(
                DTYPE_CODE[x.dtype.name],
                ptr(x),
                ptr(b),
                ptr(dy) if order else None,
                out.ctypes.data,
                size,
                channels,
                inner,
                order,
                code,
                alpha,
                gain,
                clamp,
            ),
            f"bias_act ({device})",
        )
        return out

    # --- upfirdn2d
    @staticmethod
    def _up_args(x, f, updown, pad):
        xshape = (ctypes.c_int64 * 4)(*x.shape)
        fshape = (ctypes.c_int * 2)(*(list(f.shape) + [0])[:2])
        return xshape, fshape, (ctypes.c_int * 4)(*updown), (ctypes.c_int * 4)(*pad)

    def upfirdn_out_shape(self, x, f, updown, pad):
        xshape, fshape, ud, pd = self._up_args(x, f, updown, pad)
        hw = (ctypes.c_int * 2)()
        self.check(
            self.lib.sg2tf_check_upfirdn2d_out_size(DTYPE_CODE[x.dtype.name], xshape, f.ndim, fshape, ud, pd, hw),
            "upfirdn2d output size",
        )
        return [x.shape[0], hw[0], hw[1], x.shape[3]]

    def upfirdn2d(self, device, x, f, updown, pad, flip, gain, force=0):
        """Returns (y, whether the separable CPU path ran; None on the GPU)."""
        xshape, fshape, ud, pd = self._up_args(x, f, updown, pad)
        f = np.ascontiguousarray(f, np.float32)
        y = np.empty(self.upfirdn_out_shape(x, f, updown, pad), x.dtype)
        dt = DTYPE_CODE[x.dtype.name]
        if device == "cpu":
            sep = ctypes.c_int(0)
            self.check(
                self.lib.sg2tf_check_upfirdn2d_cpu(
                    dt,
                    x.ctypes.data,
                    xshape,
                    f.ctypes.data,
                    f.ndim,
                    fshape,
                    ud,
                    pd,
                    int(flip),
                    gain,
                    y.ctypes.data,
                    force,
                    ctypes.byref(sep),
                ),
                "upfirdn2d (cpu)",
            )
            return y, bool(sep.value)
        self.check(
            self.lib.sg2tf_check_upfirdn2d_gpu(
                dt, x.ctypes.data, xshape, f.ctypes.data, f.ndim, fshape, ud, pd, int(flip), gain, y.ctypes.data
            ),
            "upfirdn2d (gpu)",
        )
        return y, None


def rel_err(ref, got, mask=None):
    """max |ref - got| / max |ref| (as tests/test_custom_ops.py), over `mask` if given."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    if ref.shape != got.shape:
        raise HarnessError(f"shape mismatch {ref.shape} vs {got.shape}")
    if ref.size == 0:
        return 0.0
    scale = float(np.max(np.abs(ref)))
    diff = np.abs(ref - got)
    if mask is not None:
        diff = np.where(mask, diff, 0.0)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    err = float(np.max(diff))
    return err / scale if scale > 0 else err


def _record(rows, op, case_id, kind, dtype, tol, errs, extra=None):
    row = dict(op=op, case=case_id, kernel=kind, dtype=dtype, tol=tol)
    row.update({k: (None if v is None else float(f"{v:.4g}")) for k, v in errs.items()})
    row["ok"] = all(v is not None and v <= tol for v in errs.values())
    if extra:
        row.update(extra)
    rows.append(row)
    worst = max(errs.items(), key=lambda kv: -1 if kv[1] is None else kv[1])
    status = "ok  " if row["ok"] else "FAIL"
    print(f"  {status} {op} {kind:<7} {case_id}: worst {worst[0]} {worst[1]:.3g} (tol {tol:g})", flush=True)
    return row


def run_bias_act(h, use_gpu, include_large, rows):
    for case in C.BIAS_ACT_CASES:
        if case.get("large") and not include_large:
            continue
        cid = C.bias_act_id(case)
        x, b, dy = C.bias_act_inputs(case)
        code, alpha, gain, clamp = C.bias_act_attrs(case)
        storage = np.dtype(case["dtype"])
        # Large tensors check the launch's index math and grid-stride loop: the forward
        # and first-order kernels suffice there (their numpy references are slow).
        for order in (0, 1) if case.get("large") else range(4):
            ref, ambiguous = R.bias_act(x, b, case["axis"], case["act"], alpha, gain, clamp, order, dy, storage)
            mask = ~ambiguous if order else None
            cpu = h.bias_act("cpu", x, b, dy, case["axis"], code, alpha, gain, clamp, order)
            errs = dict(cpu_vs_ref=rel_err(ref, cpu, mask))
            if use_gpu:
                gpu = h.bias_act("gpu", x, b, dy, case["axis"], code, alpha, gain, clamp, order)
                errs.update(gpu_vs_ref=rel_err(ref, gpu, mask), gpu_vs_cpu=rel_err(cpu, gpu, mask))
            _record(
                rows,
                "bias_act",
                cid,
                "forward" if order == 0 else f"order{order}",
                case["dtype"],
                C.bias_act_tol(case["dtype"], order),
                errs,
                dict(excluded_at_clamp=int(np.sum(~mask)) if mask is not None else 0),
            )


def run_upfirdn2d(h, use_gpu, include_large, rows):
    for case in C.UPFIRDN_CASES:
        if case["large"] and not include_large:
            continue
        cid = C.upfirdn_id(case)
        storage = np.dtype(case["dtype"])
        f = C.make_filter(case["filter"])
        updown, pad, flip, gain = C.upfirdn_params(case)
        rng = np.random.default_rng(0)
        x = rng.normal(size=case["shape"]).astype(storage)
        # Forward, then the gradient (the same kernel with the gradient's parameters);
        # the second-order gradient runs the forward parameters again.
        y_ref = R.upfirdn2d(x, f, updown, pad, flip, gain, storage)
        gud, gpad, gflip = C.upfirdn_grad_params(x.shape, f, updown, pad, flip)
        dy = rng.normal(size=y_ref.shape).astype(storage)
        dx_ref = R.upfirdn2d(dy, f, gud, gpad, gflip, gain, storage)
        if dx_ref.shape != x.shape:
            raise HarnessError(f"{cid}: gradient shape {dx_ref.shape} != {x.shape}")
        # The gradient's parameters are the adjoint's: <A x, dy> == <x, A^T dy>.
        lhs = float(np.sum(y_ref * dy.astype(np.float64)))
        rhs = float(np.sum(x.astype(np.float64) * dx_ref))
        adjoint = abs(lhs - rhs) / max(abs(lhs), abs(rhs), 1e-300)
        for kind, inp, ref, params in [
            ("forward", x, y_ref, (updown, pad, flip)),
            ("grad", dy, dx_ref, (gud, gpad, gflip)),
        ]:
            errs = {}
            paths = {}
            cpu0 = None
            for force, name in [(0, "cpu_vs_ref"), (-1, "cpu2d_vs_ref"), (1, "cpusep_vs_ref")]:
                out, sep = h.upfirdn2d("cpu", inp, f, *params, gain, force=force)
                errs[name] = rel_err(ref, out)
                paths[name] = "separable" if sep else "2d"
                if force == 0:
                    cpu0 = out
            if use_gpu:
                gpu, _ = h.upfirdn2d("gpu", inp, f, *params, gain)
                errs.update(gpu_vs_ref=rel_err(ref, gpu), gpu_vs_cpu=rel_err(cpu0, gpu))
            extra = dict(cpu_path=paths["cpu_vs_ref"])
            if kind == "grad":
                errs["adjoint_f64"] = adjoint
            _record(rows, "upfirdn2d", cid, kind, case["dtype"], C.TOL[case["dtype"]], errs, extra)


# The float16 gradients that sg2tf sums over batch and pixels, at the size of a 256 px float16
# block (batch 4, 32 channels; CPU-only runs: a small stand-in): bias_act's dx (summed into the
# bias gradient) and upfirdn2d's gradient for G's upsampling and D's downsampling (what the
# convolution weight gradients sum). Each is summed in float32, as sg2tf does, and compared with
# the float64 sum of the float64 reference: within one float16 rounding of the exact sum.
REDUCTION_SHAPES = {True: [4, 256, 256, 32], False: [2, 32, 32, 8]}
REDUCTION_TOL = 2.0**-11


def _sum_error(ref, got, mask=None):
    """|float32 sum of got - float64 sum of ref| / |float64 sum|, per channel (worst)."""
    axes = tuple(range(ref.ndim - 1))
    if mask is not None:
        ref, got = np.where(mask, ref, 0.0), np.where(mask, got, 0)
    exact = np.sum(np.asarray(ref, np.float64), axis=axes)
    summed = np.sum(np.asarray(got, np.float32), axis=axes, dtype=np.float32)
    return float(np.max(np.abs(summed - exact) / np.maximum(np.abs(exact), 1e-300)))


def run_reductions(h, use_gpu, include_large):
    shape = REDUCTION_SHAPES[include_large]
    print(f"float16 gradient sums at {shape} (float32 accumulation vs float64)", flush=True)
    rows = []
    rng = np.random.default_rng(1)
    storage = np.dtype("float16")
    # Means keep the sums from cancelling, so the elements' own rounding averages out.
    x = rng.normal(size=shape).astype(storage)
    b = rng.normal(size=shape[-1]).astype(storage)
    dy = (rng.normal(size=shape) + 0.5).astype(storage)
    code, alpha, gain, clamp = C.bias_act_attrs(dict(act="lrelu", alpha=None, gain=None, clamp=256.0))
    ref, ambiguous = R.bias_act(x, b, -1, "lrelu", alpha, gain, clamp, 1, dy, storage)
    devices = ["cpu", "gpu"] if use_gpu else ["cpu"]
    errs = {
        f"{d}_sum_vs_ref": _sum_error(ref, h.bias_act(d, x, b, dy, -1, code, alpha, gain, clamp, 1), ~ambiguous)
        for d in devices
    }
    _record(rows, "bias_act", f"bias_grad{shape}", "sum", "float16", REDUCTION_TOL, errs)
    f = C.make_filter("4")
    small = [shape[0], shape[1] // 2, shape[2] // 2, shape[3]]
    # G's upsample2d (x: half size) and D's downsample2d (x: full size), as sg2tf calls them.
    for name, xshape, updown, pad, gain in [
        ("upsample2d", small, (2, 2, 1, 1), (2, 1, 2, 1), 4.0),
        ("downsample2d", shape, (1, 1, 2, 2), (1, 1, 1, 1), 1.0),
    ]:
        gud, gpad, gflip = C.upfirdn_grad_params(xshape, f, updown, pad, False)
        out = R.upfirdn2d(np.zeros(xshape, storage), f, updown, pad, False, gain, storage).shape
        g = (rng.normal(size=out) + 0.5).astype(storage)
        ref = R.upfirdn2d(g, f, gud, gpad, gflip, gain, storage)
        errs = {f"{d}_sum_vs_ref": _sum_error(ref, h.upfirdn2d(d, g, f, gud, gpad, gflip, gain)[0]) for d in devices}
        _record(rows, "upfirdn2d", f"{name}_grad{xshape}", "sum", "float16", REDUCTION_TOL, errs)
    failures = [r for r in rows if not r["ok"]]
    return dict(checks=len(rows), failures=len(failures), ok=not failures, rows=rows)


def summarize(rows):
    out = {}
    for row in rows:
        key = f"{row['op']}/{row['dtype']}"
        s = out.setdefault(key, dict(checks=0, failures=0, worst={}))
        s["checks"] += 1
        s["failures"] += 0 if row["ok"] else 1
        for k, v in row.items():
            if k.endswith(("_vs_ref", "_vs_cpu")) and v is not None and v / row["tol"] > s["worst"].get(k, (0, 0))[1]:
                s["worst"][k] = (v, v / row["tol"])
    for s in out.values():
        s["worst"] = {k: dict(rel_err=v[0], fraction_of_tol=round(v[1], 4)) for k, v in s["worst"].items()}
    return out


def run_parity(h, use_gpu, include_large):
    rows = []
    print(f"parity: CPU kernels vs numpy reference{' and CUDA kernels' if use_gpu else ''}", flush=True)
    run_bias_act(h, use_gpu, include_large, rows)
    run_upfirdn2d(h, use_gpu, include_large, rows)
    failures = [r for r in rows if not r["ok"]]
    return dict(
        checks=len(rows),
        failures=len(failures),
        ok=not failures,
        summary=summarize(rows),
        failed=failures[:50],
        rows=rows,
    )


def run_sanitizer(args, timeout):
    """compute-sanitizer memcheck over the small cases, in a child process."""
    tool = (
        args.compute_sanitizer or _which("compute-sanitizer") or _first_file(["/usr/local/cuda/bin/compute-sanitizer"])
    )
    if not tool:
        return dict(status="unavailable", reason="compute-sanitizer not found")
    child_report = os.path.join(os.path.dirname(os.path.abspath(args.report)), "sanitizer_child.json")
    cmd = [
        tool,
        "--tool",
        "memcheck",
        "--error-exitcode",
        "86",
        "--print-limit",
        "20",
        sys.executable,
        os.path.abspath(__file__),
        "--lib",
        args.lib,
        "--mode",
        "sanitize-child",
        "--report",
        child_report,
    ]
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        tail = (e.stdout or b"")[-2000:]
        return dict(
            status="timeout",
            seconds=timeout,
            output_tail=tail.decode(errors="replace") if isinstance(tail, bytes) else tail,
        )
    out = proc.stdout + proc.stderr
    summary = re.search(r"ERROR SUMMARY: (\d+) error", out)
    res = dict(
        tool="memcheck",
        command=" ".join(cmd[:5]) + " python gpu_check.py ...",
        seconds=round(time.time() - start, 1),
        returncode=proc.returncode,
        output_tail=out[-3000:],
    )
    if summary is None or "Device not supported" in out:
        res["status"] = "unavailable"
        res["reason"] = "compute-sanitizer did not run the program (see output_tail)"
        return res
    res["errors"] = int(summary.group(1))
    child = {}
    if os.path.exists(child_report):
        with open(child_report) as fh:
            child = json.load(fh)
    res["launch_checks"] = child.get("parity", {}).get("checks")
    res["child_parity_ok"] = child.get("parity", {}).get("ok")
    res["status"] = "clean" if res["errors"] == 0 and proc.returncode == 0 else "errors"
    return res


def _which(name):
    for d in os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def _first_file(paths):
    return next((p for p in paths if os.path.isfile(p)), None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lib", required=True, help="harness library (gpu_check.sh builds it)")
    parser.add_argument(
        "--lib-wide", default="", help="the harness built with SG2TF_CUDA_FORCE_WIDE_INDEX=1 (optional)"
    )
    parser.add_argument("--mode", default="auto", choices=["auto", "full", "compile-only", "sanitize-child"])
    parser.add_argument("--report", required=True, help="JSON report path")
    parser.add_argument("--official", default="", help="stylegan2-ada-pytorch checkout (or its torch_utils/ops folder)")
    parser.add_argument("--build-dir", default="", help="folder for the official ops' builds")
    parser.add_argument(
        "--budget", type=float, default=300.0, help="seconds this run may take (the benchmark is cut to fit)"
    )
    parser.add_argument("--no-sanitizer", action="store_true")
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--compute-sanitizer", default="", help="path of compute-sanitizer")
    parser.add_argument("--build-info", default="", help="JSON of the build (from the script)")
    args = parser.parse_args(argv)
    start = time.time()
    try:
        h = Harness(args.lib)
    except OSError as e:
        print(f"gpu_check: cannot load {args.lib}: {e}", file=sys.stderr)
        return 2
    device = h.device_info() if h.has_cuda else dict(count=0, error="built without CUDA")
    mode = args.mode
    if mode == "auto":
        mode = "full" if device.get("count", 0) > 0 else "compile-only"
    if mode in ("full", "sanitize-child") and device.get("count", 0) == 0:
        print(f"gpu_check: mode {mode} needs a GPU; none found ({device.get('error')})", file=sys.stderr)
        return 2
    report = dict(
        tool="sg2tf scripts/gpu_check",
        mode=mode,
        started_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        host=dict(
            machine=platform.machine(), python=platform.python_version(), numpy=np.__version__, cpus=os.cpu_count()
        ),
        library=h.path,
        device=device,
    )
    if args.build_info and os.path.exists(args.build_info):
        with open(args.build_info) as fh:
            report["build"] = json.load(fh)

    official = None
    if mode == "full" and not args.no_bench:
        import bench  # torch only from here on

        official = bench.start_official_build(
            args.official,
            args.build_dir or os.path.join(os.path.dirname(os.path.abspath(args.lib)), "official"),
            device,
        )

    ok = True
    try:
        report["parity"] = run_parity(h, use_gpu=mode != "compile-only", include_large=mode == "full")
        ok &= report["parity"]["ok"]
        report["reductions"] = run_reductions(h, use_gpu=mode != "compile-only", include_large=mode == "full")
        ok &= report["reductions"]["ok"]
        if mode == "full" and args.lib_wide and os.path.exists(args.lib_wide):
            # The 64-bit-index kernels (tensors of 2^31 elements or more), forced on the
            # small cases.
            print("parity of the 64-bit-index CUDA kernels (forced, small cases)", flush=True)
            wide = run_parity(Harness(args.lib_wide), use_gpu=True, include_large=False)
            wide.pop("rows")
            report["parity_wide_index"] = wide
            ok &= wide["ok"]
        if mode == "full" and not args.no_sanitizer:
            print("compute-sanitizer memcheck (small cases) ...", flush=True)
            report["sanitizer"] = run_sanitizer(
                args, timeout=max(30.0, min(200.0, args.budget - (time.time() - start) - 120))
            )
            print(
                f"  sanitizer: {report['sanitizer']['status']} ({report['sanitizer'].get('errors', '-')} errors)",
                flush=True,
            )
            ok &= report["sanitizer"]["status"] in ("clean", "unavailable")
        if official is not None:
            remaining = args.budget - (time.time() - start)
            report["bench"] = bench.run(h, official, device, budget=remaining)
            ok &= report["bench"].get("ok", True)
    except HarnessError as e:
        report["error"] = str(e)
        ok = False
        print(f"gpu_check: {e}", file=sys.stderr)
    finally:
        if official is not None:
            official.cleanup()
    report["goals"] = goals(report)
    report["ok"] = bool(ok)
    report["elapsed_s"] = round(time.time() - start, 1)
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as fh:
        json.dump(report, fh, indent=1)
    p = report.get("parity", {})
    print(
        f"gpu_check: mode {mode}, {p.get('checks', 0)} parity checks, "
        f"{p.get('failures', 0)} failures; goals {json.dumps(report['goals'])}; "
        f"{'OK' if ok else 'FAILED'} in {report['elapsed_s']} s; report {args.report}"
    )
    return 0 if ok else 1


def goals(report):
    """The issue's goals on the GPU: parity, speed vs the official kernels, bandwidth."""
    g = {}
    parity = report.get("parity")
    if parity and report.get("mode") == "full":
        g["parity_within_tolerances"] = parity["ok"] and report.get("parity_wide_index", {}).get("ok", True)
    bench = report.get("bench") or {}
    if bench.get("cases"):
        timed = [c for c in bench["cases"] if c.get("speedup") is not None]
        if timed:
            g["at_least_as_fast_as_official"] = all(c["speedup"] >= 1.0 for c in timed)
            g["slowest_speedup"] = min(c["speedup"] for c in timed)
        frac = [
            c["bandwidth_fraction"]
            for c in bench["cases"]
            if c.get("op") == "bias_act" and c.get("bandwidth_fraction") is not None
        ]
        if frac:
            g["bias_act_bandwidth_fraction_min"] = min(frac)
            g["bias_act_at_least_70pct_bandwidth"] = min(frac) >= 0.7
    return g


if __name__ == "__main__":
    sys.exit(main())
