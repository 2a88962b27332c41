"""`sg2tf-bench data`: input pipeline images/s against the raw read rate of the same files.

For each resolution it writes a synthetic dataset (full resolution only), then measures
  raw_read: sequential reads of the .tfrecords file (page cache warm): the physical limit;
  tfrecord_read: tf.data.TFRecordDataset alone, records unparsed;
  pipeline_uint8 / pipeline_float32: `make_dataset` (shuffle, repeat, mirror, batch, decode).
"""

import os
import tempfile
import time

from absl import flags

flags.DEFINE_list("data_resolutions", ["256", "1024"], "Resolutions to benchmark.")
flags.DEFINE_integer("data_megabytes", 384, "Approximate dataset size per resolution, in MiB.")
flags.DEFINE_float("data_seconds", 5.0, "Measuring time per case.")
flags.DEFINE_integer("data_batch", 32, "Batch size.")
flags.DEFINE_string("data_dir", None, "Where to write the temporary datasets (default: a temp dir).")

FLAGS = flags.FLAGS


def _rate(step, seconds, warmup=2):
    """Calls `step()` (returns images handled) for `seconds`; returns images/s."""
    for _ in range(warmup):
        step()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        n += step()
    return n / (time.perf_counter() - start)


def _raw_read_rate(filename, record_bytes, seconds):
    chunk = 16 << 20

    def epoch():
        with open(filename, "rb", buffering=0) as f:
            total = 0
            while True:
                block = f.read(chunk)
                if not block:
                    break
                total += len(block)
        return total / record_bytes

    return _rate(epoch, seconds, warmup=1)


def bench_resolution(resolution, root, megabytes, seconds, batch):
    import tensorflow as tf

    from sg2tf.data import make_dataset, synthetic, writer

    record_bytes = 3 * resolution * resolution
    count = max(batch * 2, (megabytes << 20) // record_bytes)
    path = os.path.join(root, f"bench{resolution}")
    info = writer.write_dataset(path, synthetic.synthetic_source(count, resolution), shuffle=False,
                                resolutions="top", progress=False, overwrite=True)
    filename = info.file()
    on_disk = os.path.getsize(filename) / count

    out = {"images": count, "record_bytes": int(on_disk), "batch": batch}
    out["raw_read"] = _raw_read_rate(filename, on_disk, seconds)

    records = iter(tf.data.TFRecordDataset(filename, buffer_size=16 << 20).repeat().batch(batch).prefetch(2))
    out["tfrecord_read"] = _rate(lambda: int(next(records).shape[0]), seconds)

    for dtype in ("uint8", "float32"):
        ds = make_dataset(path, batch_size=batch, mirror=True, dtype=dtype, seed=0)
        it = iter(ds)
        out[f"pipeline_{dtype}"] = _rate(lambda: int(next(it)[0].shape[0]), seconds)
    for key in ("pipeline_uint8", "pipeline_float32", "tfrecord_read"):
        out[f"{key}_vs_raw"] = out[key] / out["raw_read"]
    return out


def main(argv):
    """Runs the benchmark; returns `{resolution: {case: images/s, ...}}` plus settings."""
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = {"unit": "images/s", "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(dir=FLAGS.data_dir) as root:
        for r in FLAGS.data_resolutions:
            results[f"r{int(r)}"] = bench_resolution(int(r), root, FLAGS.data_megabytes, FLAGS.data_seconds,
                                                     FLAGS.data_batch)
    return results
