"""`sg2tf-bench data`: input pipeline images/s against the raw read rate of the same files.

For each resolution it writes a synthetic dataset (full resolution only), then measures
  raw_read: a sequential single-threaded read of the .tfrecords file in 16 MiB chunks,
    page cache warm: the physical limit;
  tfrecord_read: tf.data.TFRecordDataset alone, records batched but not parsed;
  pipeline_<dtype>_<impl>: `make_dataset` (shuffle, repeat, mirror, batch, decode) for
    dtype uint8 and float32, with the stock-TensorFlow reader (`ref`) and the compiled
    record reader (`custom`; left out, with the reason, when the op library is missing);
  folder_<format>_<dtype>[_memory]: `make_dataset` of the same kind of images written as
    `--data_folder_images` files (`--data_folder_formats`) in a folder, read directly
    (`sg2tf.data.image_folder`: every batch decoded by a thread pool), and with
    `cache="memory"` after one epoch has filled the cache. `folder_check_s` is the
    validation before the first batch (each file opened and decoded once).
Every case is measured `--data_repeat` times, the cases of a round one after another, so
that a change in the machine's load hits all of them; the medians are reported, with
each round's values under `runs` and `<case>_vs_raw` = median / median raw_read.
`<case>_per_cpu_s` is images per CPU second of the process (all threads), which depends
much less on other jobs than images/s does; `<case>_per_cpu_s_vs_raw` compares it with
the raw read's.
`load_avg` is the 1-minute load average before each resolution and at the end.
"""

import os
import tempfile
import time

import numpy as np
import PIL.Image
import tensorflow as tf
from absl import flags

from sg2tf.data import image_folder, make_dataset, synthetic, writer
from sg2tf.ops import _custom

flags.DEFINE_list("data_resolutions", ["256", "1024"], "Resolutions to benchmark.")
flags.DEFINE_integer("data_megabytes", 384, "Approximate dataset size per resolution, in MiB.")
flags.DEFINE_float("data_seconds", 3.0, "Measuring time per case and round.")
flags.DEFINE_integer("data_batch", 32, "Batch size.")
flags.DEFINE_integer("data_repeat", 3, "Rounds: every case is measured this many times (medians reported).")
flags.DEFINE_list("data_impls", ["ref", "custom"], "Pipeline implementations to measure.")
flags.DEFINE_string("data_dir", None, "Where to write the temporary datasets (default: a temp dir).")
flags.DEFINE_integer("data_folder_images", 512, "Image files for the folder cases (0: no folder cases).")
flags.DEFINE_list("data_folder_formats", ["png"], "Image file formats of the folder cases (png, jpg).")

FLAGS = flags.FLAGS

DTYPES = ("uint8", "float32")


def _rate(step, seconds, warmup=2, cpu=None):
    """Calls `step()` (returns images handled) for `seconds`; returns images/s.

    With a list `cpu`, appends images per CPU second of this process (all its threads).
    """
    for _ in range(warmup):
        step()
    n, start, start_cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        n += step()
    if cpu is not None:
        cpu.append(n / max(time.process_time() - start_cpu, 1e-9))
    return n / (time.perf_counter() - start)


def _raw_read_rate(filename, record_bytes, seconds, cpu=None):
    chunk = 16 << 20

    def epoch():
        with open(filename, "rb", buffering=0) as f:
            while f.read(chunk):
                pass
        return os.path.getsize(filename) / record_bytes

    return _rate(epoch, seconds, warmup=1, cpu=cpu)


def _load_avg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _custom_reason():
    _, reason = _custom.load_library()
    return reason


def _write_folder(path, source, count, image_format):
    """The first `count` images of `source` as files `path/NNNNN.<format>` (JPEG at quality 95),
    with Gaussian noise (sigma 8) so that they compress about as photographs do, not as flat shapes."""
    os.makedirs(path, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = source.load(i % source.num_images).transpose(1, 2, 0).astype(np.float32)
        pixels += rng.normal(0, 8, pixels.shape)
        image = PIL.Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        image.save(os.path.join(path, f"{i:05d}.{image_format}"), quality=95)


def bench_resolution(
    resolution,
    root,
    megabytes,
    seconds,
    batch,
    repeat=3,
    impls=("ref", "custom"),
    folder_images=0,
    folder_formats=("png",),
):
    """`{case: median images/s, case_vs_raw: ratio, runs: {case: [per round]}, ...}`."""

    record_bytes = 3 * resolution * resolution
    count = max(batch * 2, (megabytes << 20) // record_bytes)
    path = os.path.join(root, f"bench{resolution}")
    source = synthetic.synthetic_source(count, resolution)
    info = writer.write_dataset(
        path,
        source,
        shuffle=False,
        resolutions="top",
        progress=False,
        overwrite=True,
    )
    filename = info.file()
    on_disk = os.path.getsize(filename) / count
    out = {"images": count, "record_bytes": int(on_disk), "batch": batch, "repeat": repeat}

    impls = list(impls)
    if "custom" in impls and _custom_reason() is not None:
        out["custom_unavailable"] = _custom_reason()
        impls.remove("custom")

    def tfrecord_read(cpu):
        records = iter(tf.data.TFRecordDataset(filename, buffer_size=16 << 20).repeat().batch(batch).prefetch(2))
        return _rate(lambda: int(next(records).shape[0]), seconds, cpu=cpu)

    def pipeline(dtype, impl):
        def run(cpu):
            # A fresh pipeline per round; the warm-up steps fill its shuffle buffer.
            it = iter(make_dataset(path, batch_size=batch, mirror=True, dtype=dtype, seed=0, impl=impl))
            return _rate(lambda: int(next(it)[0].shape[0]), seconds, cpu=cpu)

        return run

    cases = {"raw_read": lambda cpu: _raw_read_rate(filename, on_disk, seconds, cpu), "tfrecord_read": tfrecord_read}
    for dtype in DTYPES:
        for impl in impls:
            cases[f"pipeline_{dtype}_{impl}"] = pipeline(dtype, impl)

    def folder(directory, dtype, cache):
        def run(cpu):
            image_folder._OPENED.clear()  # every round as a new process: validated again, cache empty
            start = time.perf_counter()
            it = iter(make_dataset(directory, batch_size=batch, mirror=True, dtype=dtype, seed=0, cache=cache))
            checks.append(time.perf_counter() - start)
            for _ in range(-(-folder_images // batch) if cache else 0):  # fill the cache: one epoch
                next(it)
            return _rate(lambda: int(next(it)[0].shape[0]), seconds, cpu=cpu)

        return run

    checks = []
    for image_format in folder_formats if folder_images else ():
        directory = os.path.join(root, f"folder{resolution}-{image_format}")
        _write_folder(directory, source, folder_images, image_format)
        out[f"folder_{image_format}_file_bytes"] = int(
            np.mean([os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory)])
        )
        for dtype in DTYPES:
            cases[f"folder_{image_format}_{dtype}"] = folder(directory, dtype, None)
        cases[f"folder_{image_format}_float32_memory"] = folder(directory, "float32", "memory")

    runs = {name: [] for name in cases}
    cpu_runs = {name: [] for name in cases}
    for _ in range(max(repeat, 1)):
        for name, case in cases.items():
            runs[name].append(case(cpu_runs[name]))
    for name, values in runs.items():
        out[name] = float(np.median(values))
        out[f"{name}_per_cpu_s"] = float(np.median(cpu_runs[name]))
    raw = out["raw_read"]
    for name in cases:
        if name != "raw_read":
            out[f"{name}_vs_raw"] = out[name] / raw
            out[f"{name}_per_cpu_s_vs_raw"] = out[f"{name}_per_cpu_s"] / out["raw_read_per_cpu_s"]
    if "ref" in impls and "custom" in impls:
        for dtype in DTYPES:
            out[f"pipeline_{dtype}_custom_vs_ref"] = out[f"pipeline_{dtype}_custom"] / out[f"pipeline_{dtype}_ref"]
    out["runs"] = {name: [round(v, 1) for v in values] for name, values in runs.items()}
    if checks:
        out["folder_images"] = folder_images
        out["folder_check_s"] = float(np.median(checks))
    return out


def main(argv):
    """Runs the benchmark; returns `{rRES: {case: images/s, ...}}` plus settings."""
    del argv
    results = {"unit": "images/s", "cpu_count": os.cpu_count(), "load_avg": []}
    with tempfile.TemporaryDirectory(dir=FLAGS.data_dir) as root:
        for r in FLAGS.data_resolutions:
            results["load_avg"].append(_load_avg())
            results[f"r{int(r)}"] = bench_resolution(
                int(r),
                root,
                FLAGS.data_megabytes,
                FLAGS.data_seconds,
                FLAGS.data_batch,
                FLAGS.data_repeat,
                FLAGS.data_impls,
                FLAGS.data_folder_images,
                FLAGS.data_folder_formats,
            )
    results["load_avg"].append(_load_avg())
    return results
