"""`sg2tf-bench ops`: forward+backward speed and peak memory of the custom vs reference ops.

Shapes come from real StyleGAN2 layers at batch 4 (configurable): upsampling of 512-channel
feature maps at 8-32 px, downsampling of 64-128-channel maps at 128-256 px (the
discriminator), and bias + lrelu (clamp 256, as in StyleGAN2-ADA) on the same
activations. Each case runs `y = op(x)`, `dx = d(sum(y * dy))/dx` inside one
`tf.function`, and reports the median time of `--iters` runs, the speed ratio
(reference time / custom time), and the peak memory the step allocated beyond its
inputs (CPU: TensorFlow's BFC allocator, enabled by this module when it is imported
before TensorFlow; GPU: the device allocator).

On a shared machine, `--repeat N` times every case N times, alternating reference and
custom, and reports the median of the N medians (and each run's ratio); `load_avg` gives
the 1-minute load average before and after, to judge how quiet the machine was.

Output (JSON): {"device", "load_avg", "cases": [{"op", "shape", "ref_ms", "custom_ms",
"speedup", "speedups", "ref_peak_mb", "custom_peak_mb"}, ...],
"summary": {op: {"speedup_geomean", ...}}}.
"""

import os
import sys
import time

if "tensorflow" not in sys.modules:
    # Lets get_memory_info report peak CPU memory; harmless for GPU runs.
    os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from sg2tf.ops import _custom  # noqa: E402
from sg2tf.ops.bias_act import bias_act  # noqa: E402
from sg2tf.ops.upfirdn2d import downsample2d, setup_filter, upsample2d  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 4, "Batch size of every case.")
flags.DEFINE_integer("iters", 5, "Timed iterations per case (median reported).")
flags.DEFINE_integer("warmup", 2, "Untimed iterations per case (tracing, caches).")
flags.DEFINE_integer(
    "repeat", 1, "Times each case is measured (reference and custom alternating); the median is reported."
)
flags.DEFINE_enum("dtype", "float32", ["float32", "float16"], "Tensor dtype.")
flags.DEFINE_list("ops", ["upfirdn2d", "bias_act"], "Op families to time.")
flags.DEFINE_bool("small", False, "Only the smaller shapes (a quick check).")


def _cases(batch, small):
    f = setup_filter([1, 3, 3, 1])
    up = [(8, 512), (16, 512), (32, 512)]
    down = [(128, 128), (256, 64)]
    if small:
        up, down = up[:2], down[:1]
    cases = []
    resampling = (
        ("upsample2d", up, lambda x, impl: upsample2d(x, f, up=2, impl=impl)),
        ("downsample2d", down, lambda x, impl: downsample2d(x, f, down=2, impl=impl)),
    )
    for name, sizes, fn in resampling:
        cases += [("upfirdn2d", f"{name} {res}px x{ch}", [batch, res, res, ch], fn) for res, ch in sizes]
    for res, ch in [(2 * r, c) for r, c in up] + down:
        cases.append(
            (
                "bias_act",
                f"bias_act lrelu {res}px x{ch}",
                [batch, res, res, ch],
                lambda x, impl, ch=ch: bias_act(x, tf.linspace(-1.0, 1.0, ch), act="lrelu", clamp=256.0, impl=impl),
            )
        )
    return cases


def _device():
    return "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"


def _peak_mb(device, fn, *args):
    try:
        tf.config.experimental.reset_memory_stats(device)
        base = tf.config.experimental.get_memory_info(device)["current"]
        out = fn(*args)
        for t in tf.nest.flatten(out):
            t.numpy()
        peak = tf.config.experimental.get_memory_info(device)["peak"]
    except (ValueError, tf.errors.OpError):
        return None
    return round((peak - base) / 2**20, 2)


def _make_step(op_fn, x, impl):
    dy = tf.random.stateless_normal(tf.shape(op_fn(x, "ref")), seed=[1, 2], dtype=x.dtype)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = op_fn(x, impl)
        return y, tape.gradient(y, x, output_gradients=dy)

    return step


def _time_step(step, x, iters, warmup):
    for _ in range(warmup):
        [t.numpy() for t in step(x)]
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        [t.numpy() for t in step(x)]
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def _load_avg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run(batch=4, iters=5, warmup=2, dtype="float32", ops=("upfirdn2d", "bias_act"), small=False, repeat=1):
    """Runs the benchmark and returns the result dict (see the module docstring)."""
    library, reason = _custom.load_library()
    device = _device()
    result = {
        "device": device,
        "dtype": dtype,
        "batch": batch,
        "iters": iters,
        "tensorflow": tf.__version__,
        "custom_available": library is not None,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
        "repeat": repeat,
        "load_avg": [_load_avg()],
    }
    if library is None:
        result["error"] = f"custom ops unavailable: {reason}"
        return result
    result["library"] = library.sg2tf_path
    rows = []
    rng = np.random.default_rng(0)
    with tf.device(device):
        for op, name, shape, fn in _cases(batch, small):
            if op not in ops:
                continue
            x = tf.constant(rng.normal(size=shape), dtype=dtype)
            ref_step = _make_step(fn, x, "ref")
            custom_step = _make_step(fn, x, "custom")
            ref_times, custom_times = [], []
            for i in range(max(repeat, 1)):
                ref_times.append(_time_step(ref_step, x, iters, warmup if i == 0 else 1))
                custom_times.append(_time_step(custom_step, x, iters, warmup if i == 0 else 1))
            ref_ms, custom_ms = float(np.median(ref_times)), float(np.median(custom_times))
            row = {
                "op": op,
                "case": name,
                "shape": shape,
                "ref_ms": round(ref_ms, 2),
                "custom_ms": round(custom_ms, 2),
                "speedup": round(ref_ms / custom_ms, 2),
                "ref_peak_mb": _peak_mb(device, ref_step, x),
                "custom_peak_mb": _peak_mb(device, custom_step, x),
            }
            if repeat > 1:
                row["speedups"] = [round(r / c, 2) for r, c in zip(ref_times, custom_times)]
            rows.append(row)
    result["load_avg"].append(_load_avg())
    result["cases"] = rows
    summary = {}
    for op in ops:
        sel = [r for r in rows if r["op"] == op]
        if not sel:
            continue
        ref_total = sum(r["ref_ms"] for r in sel)
        custom_total = sum(r["custom_ms"] for r in sel)
        entry = {
            "speedup_geomean": round(float(np.exp(np.mean([np.log(r["speedup"]) for r in sel]))), 2),
            "speedup_total_time": round(ref_total / custom_total, 2),
            "speedup_min": min(r["speedup"] for r in sel),
        }
        peaks = [(r["ref_peak_mb"], r["custom_peak_mb"]) for r in sel]
        if all(a is not None and b is not None and b > 0 for a, b in peaks):
            entry["peak_memory_ratio_geomean"] = round(float(np.exp(np.mean([np.log(a / b) for a, b in peaks]))), 2)
        summary[op] = entry
    result["summary"] = summary
    return result


def main(argv):
    del argv
    return run(
        batch=FLAGS.batch,
        iters=FLAGS.iters,
        warmup=FLAGS.warmup,
        dtype=FLAGS.dtype,
        ops=tuple(FLAGS.ops),
        small=FLAGS.small,
        repeat=FLAGS.repeat,
    )
