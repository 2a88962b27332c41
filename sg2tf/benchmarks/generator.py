"""Generator speed: images/s for eager, tf.function, XLA, the SavedModel and TFLite.

  sg2tf-bench generator [--configs=small,f256] [--batches=1,8] [--iterations=3]
      [--modes=eager,function,xla,saved_model,tflite-float32,tflite-float16,tflite-dynamic]
      [--precisions=float32,float16,bfloat16] [--pytorch_json=FILE]

Configs (random weights, noise_mode='const', psi 0.7):
  * small: 32x32, z/w 64, 2 mapping layers, fmap_base 512, fmap_max 64 (the size of the
    NVlabs test fixture);
  * f256: StyleGAN2 config-f at 256x256: z/w 512, 8 mapping layers, fmap_base 16384
    (TF1's value; stylegan2-ada-pytorch's channel_base 32768), fmap_max 512: 512 channels
    up to 64x64, 256 at 128x128, 128 at 256x256 (30.0M parameters);
  * f256-ada: f256 as StyleGAN2-ADA trains it: num_fp16_res 4 (32-256 px), conv_clamp 256.

--precisions computes each config in those precisions (`sg2tf.networks.precision`:
float32, network, float16, bfloat16; a network without reduced-precision blocks gets
them at its top 4 resolutions). With several, the timed calls are interleaved (one call
of each precision in turn), so a shared machine slows them alike; the result holds
`<mode>@<precision>/batch<N>` (float32 keeps `<mode>/batch<N>`), the speed ratio to
float32 `<mode>@<precision>_vs_float32/batch<N>`, and the error of each precision
against float32 (`accuracy` over 8 seeds: largest and mean uint8 step, share of
values more than 2 steps off, largest float error).
TFLite modes compute in float32 only.

Every mode runs with the reference ops unless --ops says otherwise (exports always use
them). Each measurement is one warm-up call, then the median of --iterations timed calls.
TFLite models are converted per batch (their batch is fixed) and run with one interpreter
thread per CPU. --pytorch_json adds a measurement of the official PyTorch generator made
elsewhere (see docs/serving.md) and, for every mode, the sg2tf / PyTorch speed ratio
(`<mode>_vs_pytorch/batch<N>`).
"""

import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags

from sg2tf.constants import INFERENCE_PRECISIONS
from sg2tf.export import export_saved_model, export_tflite
from sg2tf.export.tflite import QUANTIZATIONS, VARIANT_NAMES, model_filename
from sg2tf.export.tflite import interpreter as tflite_interpreter
from sg2tf.networks.generator import Generator
from sg2tf.networks.precision import describe, with_precision
from sg2tf.ops import dispatch
from sg2tf.utils.images import to_uint8
from sg2tf.utils.seeds import z_from_seeds


def _config(width, resolution, mapping_layers, fmap_base, fmap_max, **synthesis_kwargs):
    """An unconditional RGB generator's config: z and w `width` wide."""
    return dict(
        z_dim=width,
        c_dim=0,
        w_dim=width,
        img_resolution=resolution,
        img_channels=3,
        mapping_kwargs=dict(num_layers=mapping_layers),
        synthesis_kwargs=dict(channels=dict(fmap_base=fmap_base, fmap_max=fmap_max), **synthesis_kwargs),
    )


CONFIGS = {
    "small": _config(width=64, resolution=32, mapping_layers=2, fmap_base=512, fmap_max=64),
    "f256": _config(width=512, resolution=256, mapping_layers=8, fmap_base=16384, fmap_max=512),
    "f256-ada": _config(
        width=512, resolution=256, mapping_layers=8, fmap_base=16384, fmap_max=512, num_fp16_res=4, conv_clamp=256
    ),
}
MODES = ("eager", "function", "xla", "saved_model", "tflite-float32", "tflite-float16", "tflite-dynamic")

flags.DEFINE_list("configs", ["small", "f256"], f"Configs: {', '.join(CONFIGS)}.")
flags.DEFINE_list("batches", ["1", "8"], "Batch sizes.")
flags.DEFINE_integer("iterations", 3, "Timed calls per measurement.", lower_bound=1)
flags.DEFINE_list("modes", list(MODES), f"Modes: {', '.join(MODES)}.")
flags.DEFINE_enum(
    "ops",
    "ref",
    ["auto", "custom", "ref"],
    "Op implementation of the eager, tf.function and XLA modes (XLA always uses ref).",
)
flags.DEFINE_list(
    "precisions", ["float32"], "Compute precisions: float32, network, float16, bfloat16 (timed calls interleaved)."
)
flags.DEFINE_string(
    "pytorch_json",
    None,
    "JSON of the official PyTorch generator's speed: "
    "{config: {batch1_images_per_s: .., batch8_images_per_s: ..}, ...}.",
)

FLAGS = flags.FLAGS


def build_generator(config, seed=0):
    keras.utils.set_random_seed(seed)
    return Generator(**CONFIGS[config])


def _callables(G, mode, batch, workdir, ops=None):
    """A no-argument function generating one batch in `mode` (`ops`: the op
    implementation of eager/function; default: --ops)."""

    rng = np.random.RandomState(0)
    z = tf.constant(rng.randn(batch, G.z_dim).astype(np.float32))
    psi = tf.constant(0.7)
    impl = "ref" if mode == "xla" else (ops or FLAGS.ops)

    def generate(z, psi):
        with dispatch.impl_scope(impl):
            return G.generate(z, None, truncation_psi=psi, noise_mode="const")

    if mode == "eager":
        return lambda: generate(z, psi).numpy()
    if mode in ("function", "xla"):
        fn = tf.function(generate, jit_compile=(mode == "xla"), autograph=False)
        return lambda: fn(z, psi).numpy()
    if mode == "saved_model":
        path = os.path.join(workdir, "saved_model")
        if not os.path.isdir(path):
            export_saved_model(G, path, precision="network")  # G's precision, as given.
        sig = tf.saved_model.load(os.path.join(path, "1")).signatures["serving_default"]
        return lambda: sig(z=z, truncation_psi=psi)["images"].numpy()
    if mode.startswith("tflite-"):
        variant = mode.split("-", 1)[1]
        quantize = "none" if variant == "float32" else variant
        outdir = os.path.join(workdir, f"tflite-b{batch}")
        paths, _ = export_tflite(G, outdir, quantize=(quantize,), batch=batch, report=False)
        interpreter = tflite_interpreter(model_path=paths[quantize], threads=os.cpu_count())
        runner = interpreter.get_signature_runner("serving_default")
        inputs = {"z": z.numpy(), "truncation_psi": np.float32(0.7)}
        return lambda: runner(**inputs)["images"]
    raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")


def time_interleaved(fns, iterations):
    """`{name: median seconds per call}`, one warm-up call each, then the timed calls
    in turn (one call of each function per round)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(iterations):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def precision_accuracy(nets, num=8):
    """uint8 steps and float error of each precision against float32 (8 seeds, psi 0.7)."""

    any_net = next(iter(nets.values()))
    z = tf.constant(z_from_seeds(range(num), any_net.z_dim))
    ref_net = nets.get("float32") or with_precision(any_net, "float32")
    ref = ref_net.generate(z, None, truncation_psi=0.7, noise_mode="const").numpy()
    out = {}
    for name, net in nets.items():
        img = net.generate(z, None, truncation_psi=0.7, noise_mode="const").numpy()
        steps = np.abs(to_uint8(img).astype(np.int32) - to_uint8(ref).astype(np.int32))
        out[name] = {
            "blocks": describe(net),
            "uint8_max_step": int(np.max(steps)),
            "uint8_mean_step": float(np.mean(steps)),
            "uint8_share_over_2_steps": float(np.mean(steps > 2)),
            "max_abs_error": float(np.max(np.abs(img - ref))),
        }
    return out


def benchmark_config(config, batches, modes, iterations, precisions=("float32",)):
    G = build_generator(config)
    result = {"params": int(sum(np.prod(v.shape) for v in G.trainable_variables)), "resolution": G.img_resolution}
    nets = {p: with_precision(G, p) for p in precisions}
    if len(precisions) > 1 or precisions[0] != "float32":
        result["accuracy"] = precision_accuracy(nets)
    workdir = tempfile.mkdtemp(prefix=f"sg2tf-bench-{config}-")
    try:
        for mode in modes:
            for batch in batches:
                fns = {}
                for p in precisions:
                    key = f"{mode}/batch{batch}" if p == "float32" else f"{mode}@{p}/batch{batch}"
                    if mode.startswith("tflite-") and p != "float32":
                        result[key] = {"error": "TFLite models compute in float32"}
                        continue
                    try:
                        fns[key] = _callables(nets[p], mode, batch, os.path.join(workdir, p))
                    except Exception as e:  # A mode that fails is reported, not fatal.
                        result[key] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
                try:
                    seconds = time_interleaved(fns, iterations)
                except Exception as e:
                    seconds = {}
                    for key in fns:
                        result[key] = {"error": f"{type(e).__name__}: {str(e)[:300]}"}
                for key, s in seconds.items():
                    result[key] = {"images_per_s": batch / s, "ms_per_batch": s * 1000}
                base = result.get(f"{mode}/batch{batch}", {}).get("images_per_s")
                for p in precisions:
                    ours = result.get(f"{mode}@{p}/batch{batch}", {}).get("images_per_s")
                    if p != "float32" and base and ours:
                        result[f"{mode}@{p}_vs_float32/batch{batch}"] = ours / base
                for key in [k for k in result if k.startswith(f"{mode}") and k.endswith(f"/batch{batch}")]:
                    print(f"{config} {key}: {result[key]}", flush=True)
        for q in QUANTIZATIONS:
            path = os.path.join(workdir, "float32", f"tflite-b{batches[0]}", model_filename(q))
            if os.path.exists(path):
                result[f"tflite-{VARIANT_NAMES[q]}/size_bytes"] = os.path.getsize(path)
        sm = os.path.join(workdir, precisions[0], "saved_model", "1")
        if os.path.isdir(sm):
            result["saved_model/size_bytes"] = sum(
                os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(sm) for f in files
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main(argv):
    del argv
    configs = [c for c in FLAGS.configs if c]

    precisions = [p for p in FLAGS.precisions if p] or ["float32"]
    unknown = [c for c in configs if c not in CONFIGS] + [m for m in FLAGS.modes if m not in MODES]
    unknown += [p for p in precisions if p not in INFERENCE_PRECISIONS or p == "auto"]
    if unknown:
        raise ValueError(f"unknown configs/modes {unknown}")
    batches = [int(b) for b in FLAGS.batches]
    out = {
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "iterations": FLAGS.iterations,
        "ops": FLAGS.ops,
        "precisions": precisions,
        "configs": {},
    }
    for config in configs:
        out["configs"][config] = benchmark_config(config, batches, FLAGS.modes, FLAGS.iterations, precisions)
    if FLAGS.pytorch_json:
        with open(FLAGS.pytorch_json) as f:
            torch_result = json.load(f)
        out["pytorch"] = torch_result
        for config in configs:
            for batch in batches:
                theirs = torch_result.get(config, {}).get(f"batch{batch}_images_per_s")
                for mode in FLAGS.modes:
                    ours = out["configs"][config].get(f"{mode}/batch{batch}", {})
                    if "images_per_s" in ours and theirs:
                        out["configs"][config][f"{mode}_vs_pytorch/batch{batch}"] = ours["images_per_s"] / theirs
    return out
