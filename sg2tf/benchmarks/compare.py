"""`sg2tf-bench compare`: sg2tf against the official stylegan2-ada-pytorch, interleaved.

  sg2tf-bench compare --task=generator --torch_python=/tmp/torchvenv/bin/python \\
      --nvlabs_src=/tmp/ref/stylegan2-ada-pytorch --gen_configs=f256 --gen_batches=1,8 \\
      --variants=saved_model --repeats=5
  sg2tf-bench compare --task=train --torch_python=... --nvlabs_src=... \\
      --train_options=cfg=tiny,resolution=32,batch=16,aug=noaug --variants=train+ops=custom,train+ops=ref

Every variant runs in its own worker process (`sg2tf.benchmarks.tf_worker`, and
`pytorch_worker.py` under `--torch_python` for the official code, which is imported
from `--nvlabs_src` at run time). The workers build their model, warm up, then the
driver asks each in turn for one timed unit, `--repeats` times, rotating the order
every round, so that all of them see the same machine load (the others wait, idle,
on a pipe). A unit is one generator call (generator) or one cycle of
`d_reg_interval` training steps, so every regularization phase counts at its real
frequency (train).

Variants: `NAME[+key=value...]`. NAME is a `sg2tf-bench generator` mode for the
generator task (saved_model, function, eager, xla, tflite-float32, ...) and any label
for the train task. Keys for every task: `inter`, `intra` (TensorFlow thread pools),
`onednn` (0/1: TF_ENABLE_ONEDNN_OPTS), `ops` (auto/custom/ref); for train, any other
key is a training option (`xla=1`, `fp16_res=2`, ...).

Both sides use the same architecture: the official `channel_base` is twice sg2tf's
`fmap_base` (sg2tf uses the TF1 `nf()` formula, `2 * fmap_base / res` channels).
The PyTorch training side runs the phases of the official training loop with
`StyleGAN2Loss` (per-batch style mixing, as there), float32, the reference ops.

A generator unit repeats calls shorter than `--gen_min_unit_s` (each worker counts its
own); the reported seconds are per call.

Output: per variant the timed seconds, median and minimum, images/s (generator) or
sec/kimg (train), peak RSS of the worker process (it holds one network per config, and
for the SavedModel mode also the Keras network it was exported from), and
`speedup_vs_pytorch`: the fastest PyTorch variant's median over the variant's median
(> 1: sg2tf is faster), `_paired` (median of the per-round ratios) and `_min` (ratio of
the minima, the least disturbed rounds); load averages before and after.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import flags

from sg2tf.benchmarks.generator import CONFIGS as GEN_CONFIGS
from sg2tf.training import options as options_lib

flags.DEFINE_enum("task", "generator", ["generator", "train"], "What to compare.")
flags.DEFINE_string("torch_python", None, "Python with torch and numpy (the PyTorch side).")
flags.DEFINE_string("nvlabs_src", None, "A stylegan2-ada-pytorch checkout.")
flags.DEFINE_list(
    "torch_variants",
    ["threads=0", "threads=0+omp_wait=passive", "threads=1"],
    "PyTorch workers, KEY=VALUE joined by '+': threads (torch.set_num_threads, "
    "0: all cores), interop (torch.set_num_interop_threads), omp_wait "
    "(OMP_WAIT_POLICY: active/passive; default: OpenMP's own). Speed-ups are "
    "against the fastest of them (by median).",
)
flags.DEFINE_integer("repeats", 5, "Timed rounds.", lower_bound=1)
flags.DEFINE_list("variants", None, "sg2tf variants (default: saved_model / train).")
flags.DEFINE_list("gen_configs", ["small", "f256"], f"Generator configs: {', '.join(GEN_CONFIGS)}.")
flags.DEFINE_list("gen_batches", ["1", "8"], "Generator batch sizes.")
flags.DEFINE_float(
    "gen_min_unit_s", 0.5, "A generator unit repeats calls that are shorter (each worker calibrates its own count)."
)
flags.DEFINE_list(
    "train_options",
    ["cfg=tiny", "resolution=32", "aug=noaug"],
    "Training options KEY=VALUE (as sg2tf-train flags: cfg, resolution, batch, "
    "fmap_base, fmap_max, w_dim, aug, p, pl_weight, gamma, ...).",
)

FLAGS = flags.FLAGS
WORKER_KEYS = ("inter", "intra", "onednn", "ops")


def _value(text):
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_variant(spec):
    """`'saved_model+inter=1'` -> `('saved_model', {'inter': 1})`."""
    name, *pairs = spec.split("+")
    keys = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"variant {spec!r}: expected KEY=VALUE after '+', got {pair!r}")
        k, v = pair.split("=", 1)
        keys[k] = _value(v)
    return name, keys


def torch_generator_config(config):
    """The official Generator's arguments for a `sg2tf-bench generator` config."""
    c = GEN_CONFIGS[config]
    ch = c["synthesis_kwargs"]["channels"]
    return dict(
        z_dim=c["z_dim"],
        w_dim=c["w_dim"],
        resolution=c["img_resolution"],
        mapping_layers=c["mapping_kwargs"]["num_layers"],
        channel_base=2 * ch["fmap_base"],
        channel_max=ch["fmap_max"],
    )


def torch_train_config(opts):
    """The official networks, loss and optimizer settings for resolved sg2tf options."""
    if (
        opts["channels"]
        or opts["c_dim"]
        or opts["fp16_res"]
        or opts["g_arch"] != "skip"
        or opts["d_arch"] != "resnet"
        or opts["mbstd_channels"] != 1
        or opts["mapping_width"] != opts["w_dim"]
        or opts["noconst"]
    ):
        raise ValueError(
            "the PyTorch side supports the default architectures (skip G, resnet D), "
            "no channel table, no labels, float32 only"
        )
    glr, dlr = opts["glr"], opts["dlr"]
    gamma = opts["gamma"]
    for name, value in (("glr", glr), ("dlr", dlr), ("gamma", gamma)):
        if isinstance(value, str) and ":" in value:
            raise ValueError(f"--{name}: the comparison needs a constant, got {value!r}")
    if float(glr) != float(dlr):
        raise ValueError("the comparison needs glr == dlr")
    return dict(
        z_dim=opts["z_dim"],
        w_dim=opts["w_dim"],
        resolution=opts["resolution"],
        mapping_layers=opts["mapping_layers"],
        channel_base=2 * opts["fmap_base"],
        channel_max=opts["fmap_max"],
        batch=opts["batch"],
        batch_gpu=opts["batch_gpu"],
        mbstd_group=opts["mbstd_group"],
        gamma=float(gamma),
        lr=float(glr),
        pl_weight=opts["pl_weight"],
        pl_decay=opts["pl_decay"],
        pl_batch_shrink=opts["pl_batch_shrink"],
        style_mixing_prob=opts["style_mixing_prob"],
        g_reg_interval=opts["g_reg_interval"],
        d_reg_interval=opts["d_reg_interval"],
        ema_kimg=opts["ema_kimg"],
        ema_rampup=opts["ema_rampup"],
        aug=opts["aug"],
        p=opts["p"],
    )


class Worker:
    """A worker process speaking JSON lines."""

    def __init__(self, label, argv, env=None):
        self.label = label
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        self.info = {}

    def call(self, **cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker {self.label} exited (code {self.proc.wait()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"worker {self.label}: {reply.get('error')}")
        return reply

    def close(self):
        try:
            self.call(cmd="quit")
        except Exception:  # Best effort: a dead worker is already gone.
            pass
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _torch_label(spec):
    return "pytorch" if not spec else f"pytorch[{spec}]"


def _start_workers(variants):
    workers = []
    for spec in variants:
        name, keys = parse_variant(spec)
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if "onednn" in keys:
            env["TF_ENABLE_ONEDNN_OPTS"] = str(int(keys["onednn"]))
        argv = [
            sys.executable,
            "-m",
            "sg2tf.benchmarks.tf_worker",
            f"--inter={int(keys.get('inter', 0))}",
            f"--intra={int(keys.get('intra', 0))}",
        ]
        workers.append((spec, name, keys, Worker(spec, argv, env)))
    worker_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_worker.py")
    torch_workers = []
    for spec in FLAGS.torch_variants:
        _, keys = parse_variant("pytorch+" + spec if spec else "pytorch")
        env = dict(os.environ)
        if "omp_wait" in keys:
            env["OMP_WAIT_POLICY"] = str(keys["omp_wait"]).upper()
        argv = [
            FLAGS.torch_python,
            worker_py,
            f"--nvlabs_src={FLAGS.nvlabs_src}",
            f"--threads={int(keys.get('threads', 0))}",
            f"--interop={int(keys.get('interop', 0))}",
        ]
        torch_workers.append((_torch_label(spec), Worker(_torch_label(spec), argv, env)))
    return workers, torch_workers


def _interleave(labelled_workers, repeats):
    """`{label: [seconds per round]}`, one unit per worker per round, order rotated."""
    times = {label: [] for label, _ in labelled_workers}
    rss = {}
    n = len(labelled_workers)
    for r in range(repeats):
        for i in range(n):
            label, worker = labelled_workers[(r + i) % n]
            reply = worker.call(cmd="time", n=1)
            times[label].extend(reply["seconds"])
            rss[label] = reply["peak_rss_mib"]
    return times, rss


def _summarise(times, rss, per_unit):
    out = {}
    torch_labels = [label for label in times if label.startswith("pytorch")]
    best = min(torch_labels, key=lambda label: np.median(times[label]))
    ref = np.asarray(times[best])
    out["pytorch_reference"] = best
    for label, secs in times.items():
        secs = np.asarray(secs)
        entry = {
            "seconds": [round(float(s), 4) for s in secs],
            "median_s": float(np.median(secs)),
            "min_s": float(np.min(secs)),
            "peak_rss_mib": round(rss[label], 1),
        }
        entry.update(per_unit(float(np.median(secs))))
        if label not in torch_labels:
            entry["speedup_vs_pytorch"] = float(np.median(ref) / np.median(secs))
            entry["speedup_vs_pytorch_paired"] = float(np.median(ref / secs))
            entry["speedup_vs_pytorch_min"] = float(np.min(ref) / np.min(secs))
        out[label] = entry
    return out


def main(argv):
    del argv
    if not FLAGS.torch_python or not FLAGS.nvlabs_src:
        raise ValueError("--torch_python and --nvlabs_src are required")
    if not os.path.isdir(os.path.join(FLAGS.nvlabs_src, "training")):
        raise ValueError(f"--nvlabs_src={FLAGS.nvlabs_src}: no training/ package there")
    variants = FLAGS.variants or (["saved_model"] if FLAGS.task == "generator" else ["train"])
    result = {
        "task": FLAGS.task,
        "cpu_count": os.cpu_count(),
        "repeats": FLAGS.repeats,
        "load_avg_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    workers, torch_workers = _start_workers(variants)
    try:
        if FLAGS.task == "generator":
            result["configs"] = {}
            for config in FLAGS.gen_configs:
                for batch in [int(b) for b in FLAGS.gen_batches]:
                    key = f"{config}/batch{batch}"
                    setup = {}
                    labelled = []
                    for spec, name, keys, w in workers:
                        setup[spec] = w.call(
                            cmd="setup",
                            task="generator",
                            config=config,
                            batch=batch,
                            mode=name,
                            ops=keys.get("ops", "ref"),
                            min_unit_s=FLAGS.gen_min_unit_s,
                        )
                        labelled.append((spec, w))
                    for label, tw in torch_workers:
                        setup[label] = tw.call(
                            cmd="setup",
                            task="generator",
                            config=torch_generator_config(config),
                            batch=batch,
                            min_unit_s=FLAGS.gen_min_unit_s,
                        )
                        labelled.append((label, tw))
                    times, rss = _interleave(labelled, FLAGS.repeats)
                    # Units of different workers may hold different numbers of calls.
                    per_call = {
                        label: [s / (setup[label]["images_per_unit"] // batch) for s in secs]
                        for label, secs in times.items()
                    }
                    entry = _summarise(per_call, rss, lambda s, b=batch: {"images_per_s": b / s})
                    for label in setup:
                        entry[label]["params"] = setup[label]["params"]
                        entry[label]["calls_per_unit"] = setup[label]["images_per_unit"] // batch
                    entry["load_avg_end"] = os.getloadavg()
                    result["configs"][key] = entry
                    print(
                        key,
                        json.dumps(
                            {
                                k: {m: v[m] for m in ("images_per_s", "speedup_vs_pytorch") if m in v}
                                for k, v in entry.items()
                                if isinstance(v, dict)
                            }
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
        else:
            base = {}
            for item in FLAGS.train_options:
                k, v = item.split("=", 1)
                base[k] = _value(v)
            base.setdefault("outdir", "/nonexistent")
            labelled = []
            setup = {}
            for spec, _name, keys, w in workers:
                raw = dict(base, **{k: v for k, v in keys.items() if k not in WORKER_KEYS})
                if "xla" in raw:
                    raw["xla"] = bool(raw["xla"])
                setup[spec] = w.call(cmd="setup", task="train", raw=raw, ops=keys.get("ops"))
                labelled.append((spec, w))
            opts = options_lib.resolve(dict(base), None, 1).to_dict()
            tconf = torch_train_config(opts)
            for label, tw in torch_workers:
                setup[label] = tw.call(cmd="setup", task="train", config=tconf)
                labelled.append((label, tw))
            result["options"] = {
                k: opts[k]
                for k in (
                    "cfg",
                    "resolution",
                    "batch",
                    "fmap_base",
                    "fmap_max",
                    "w_dim",
                    "mapping_layers",
                    "mbstd_group",
                    "gamma",
                    "pl_weight",
                    "aug",
                    "p",
                    "d_reg_interval",
                    "g_reg_interval",
                )
            }
            result["pytorch_config"] = tconf
            images = opts["batch"] * opts["d_reg_interval"]
            times, rss = _interleave(labelled, FLAGS.repeats)
            entry = _summarise(times, rss, lambda s: {"sec_per_kimg": s / images * 1000})
            for label in setup:
                entry[label]["params"] = setup[label]["params"]
                entry[label]["setup_s"] = round(setup[label]["setup_s"], 1)
            result["results"] = entry
    finally:
        for _, _, _, w in workers:
            w.close()
        for _, tw in torch_workers:
            tw.close()
    result["load_avg_end"] = os.getloadavg()
    return result
