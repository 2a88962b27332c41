"""TFLite export: float32, float16 and dynamic-range quantized models, builtin ops only.

Each model has a fixed batch and the signature runners `serving_default`, `mapping`,
`synthesis` and `synthesis_float` (see `module`). `generate_seeds` is SavedModel-only:
TFLite builtins have no unsigned 64-bit integer arithmetic for the MT19937 generator,
so TFLite clients compute `np.random.RandomState(seed).randn(1, z_dim)` themselves
(`export/tflite_runner.py` does).

Next to the models, `tflite_report.json` records for every variant its size, its
latency per call of `serving_default`, its error against the SavedModel graph
(float images in [-1, 1] before the uint8 conversion, ws, and uint8 steps) and its compute
precision. Every model computes in float32, whatever precision the network was trained in
(TFLite builtins have no float16 activations; the `float16` variant stores float16
weights and dequantizes them).
"""

import json
import os
import shutil
import tempfile
import time
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from sg2tf.export.module import TFLITE_SIGNATURES, GeneratorModule
from sg2tf.export.saved_model import check_stock_ops, save_module
from sg2tf.networks.precision import with_precision
from sg2tf.utils import atomic, console
from sg2tf.utils.seeds import z_from_seeds

QUANTIZATIONS = ("none", "float16", "dynamic")
VARIANT_NAMES = {"none": "float32", "float16": "float16", "dynamic": "dynamic"}
REPORT_FILE = "tflite_report.json"


def model_filename(quantize):
    return f"generator-{VARIANT_NAMES[quantize]}.tflite"


def convert(saved_model_dir, quantize="none"):
    """Converts the SavedModel's TFLite signatures to a flatbuffer (bytes) with builtin
    ops only (the converter fails if any op would need Flex / select TF ops)."""
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=list(TFLITE_SIGNATURES))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def model_op_names(model_content):
    """Names of the operators of every subgraph of a TFLite model (builtin names, or
    `CUSTOM:<name>` for custom ops such as Flex delegates)."""

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_content))
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = set()
    for code in model.operatorCodes:
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        if number == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            names.add(f"CUSTOM:{custom}")
        else:
            names.add(builtin.get(number, str(number)))
    return sorted(names)


def interpreter(model_content=None, model_path=None, threads=None):
    """A TFLite interpreter: LiteRT's (`ai_edge_litert`) where installed, else TensorFlow's
    `tf.lite.Interpreter` without its deprecation warning (it points to LiteRT)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            return tf.lite.Interpreter(model_content=model_content, model_path=model_path, num_threads=threads)
    return Interpreter(model_content=model_content, model_path=model_path, num_threads=threads)


def _interpreter(model_content, threads=None):
    """An interpreter whose (cheap) `mapping` signature ran once with stderr filtered: the
    process's first call creates the XNNPACK delegate, which announces itself with an INFO line."""

    interp = interpreter(model_content, threads=threads)
    with console.quietly():
        runner = interp.get_signature_runner("mapping")
        runner(**{k: np.zeros(v["shape"], v["dtype"]) for k, v in runner.get_input_details().items()})
    return interp


def sample_inputs(module, seeds=None, psi=0.7, class_idx=0):
    """Inputs for the comparisons: latents of `seeds` (default 0..batch-1) by the
    official rule, psi, and one-hot labels for a conditional generator."""

    batch = module.batch
    seeds = list(range(batch)) if seeds is None else list(seeds)
    z = z_from_seeds(seeds, module.z_dim)
    inputs = {"z": z, "truncation_psi": np.float32(psi)}
    if module.c_dim:
        c = np.zeros([batch, module.c_dim], np.float32)
        c[:, class_idx % module.c_dim] = 1
        inputs["c"] = c
    return inputs


def _run(runner, **inputs):
    return {k: np.asarray(v) for k, v in runner(**inputs).items()}


def measure_latency(model_content, inputs, iterations=5, threads=None):
    """Median seconds per `serving_default` call (after one warm-up call)."""
    interpreter = _interpreter(model_content, threads)
    runner = interpreter.get_signature_runner("serving_default")
    runner(**inputs)
    times = []
    for _ in range(max(int(iterations), 1)):
        start = time.perf_counter()
        runner(**inputs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def compare(model_content, reference_functions, inputs):
    """Errors of a TFLite model against the reference (SavedModel) functions.

    Returns a dict: max/mean absolute error of ws and of float images (on [-1, 1]),
    PSNR of the float images (peak-to-peak 2), and the largest uint8 difference of
    `serving_default`.
    """
    interpreter = _interpreter(model_content)
    ref_ws = reference_functions["mapping"](**inputs)["ws"].numpy()
    ref_float = reference_functions["synthesis_float"](ws=tf.constant(ref_ws))["images"].numpy()
    ref_uint8 = reference_functions["serving_default"](**inputs)["images"].numpy()

    ws = _run(interpreter.get_signature_runner("mapping"), **inputs)["ws"]
    img_float = _run(interpreter.get_signature_runner("synthesis_float"), ws=ref_ws)["images"]
    img_uint8 = _run(interpreter.get_signature_runner("serving_default"), **inputs)["images"]
    if img_uint8.dtype != np.uint8:
        raise ValueError(f"serving_default returned {img_uint8.dtype}, expected uint8")
    diff = np.abs(img_float.astype(np.float64) - ref_float)
    mse = float(np.mean(diff**2))
    return {
        "ws_max_abs_error": float(np.max(np.abs(ws - ref_ws))),
        "images_max_abs_error": float(np.max(diff)),
        "images_mean_abs_error": float(np.mean(diff)),
        "images_psnr_db": float("inf") if mse == 0 else float(10 * np.log10(4.0 / mse)),
        "uint8_max_step": int(np.max(np.abs(img_uint8.astype(np.int32) - ref_uint8.astype(np.int32)))),
    }


def export_tflite(
    G,
    outdir,
    quantize=("none",),
    batch=1,
    noise_mode="const",
    truncation_cutoff=None,
    report=True,
    latency_iterations=5,
    extra_metadata=None,
):
    """Writes `generator-{float32,float16,dynamic}.tflite` to `outdir`.

    Args:
      G: an sg2tf `Generator`.
      outdir: output directory.
      quantize: one or several of 'none' (float32), 'float16', 'dynamic'.
      batch: the fixed batch of the models.
      noise_mode: 'const' or 'none'.
      truncation_cutoff: truncate only the first this many ws (None: all).
      report: measure size, latency and error and write `tflite_report.json`.
      latency_iterations: timed calls per model.
      extra_metadata: more facts for the report.

    Returns:
      `(paths, report_dict)`: `{quantize: path}` and the report (None without `report`).
    """
    if isinstance(quantize, str):
        quantize = (quantize,)
    quantize = tuple(dict.fromkeys(quantize))
    for q in quantize:
        if q not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {q!r}")
    # Float32 compute: a network trained with float16 blocks is traced in float32 (builtin
    # ops only; the official force_fp32=True outputs).
    G = with_precision(G, "float32")
    module = GeneratorModule(G, noise_mode=noise_mode, truncation_cutoff=truncation_cutoff, batch=batch, validate=False)
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-tflite-", dir=outdir)
    paths, models = {}, {}
    try:
        save_module(module, tmp, TFLITE_SIGNATURES)
        check_stock_ops(tmp)
        for q in quantize:
            content = convert(tmp, q)
            bad = [op for op in model_op_names(content) if op.startswith("CUSTOM:")]
            if bad:
                raise ValueError(f"the {VARIANT_NAMES[q]} TFLite model needs non-builtin ops {bad}")
            path = os.path.join(outdir, model_filename(q))
            with atomic.atomic_file(path) as temp, open(temp, "wb") as f:
                f.write(content)
            paths[q], models[q] = path, content
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not report:
        return paths, None

    # The reference: the SavedModel's graph (dynamic batch, same noise mode and cutoff).
    reference = GeneratorModule(G, noise_mode=noise_mode, truncation_cutoff=truncation_cutoff)
    functions = reference.concrete_functions(("mapping", "synthesis_float", "serving_default"))
    inputs = sample_inputs(module)

    def with_tensors(fn):
        return lambda **kw: fn(**{k: tf.constant(v) for k, v in kw.items()})

    ref_functions = {name: with_tensors(fn) for name, fn in functions.items()}
    variants = {}
    for q in quantize:
        entry = {
            "file": os.path.basename(paths[q]),
            "size_bytes": os.path.getsize(paths[q]),
            "ops": model_op_names(models[q]),
            "compute_precision": "float32",
            "weights": "float16" if q == "float16" else "int8" if q == "dynamic" else "float32",
        }
        entry["vs_saved_model"] = compare(models[q], ref_functions, inputs)
        seconds = measure_latency(models[q], inputs, latency_iterations)
        entry["latency_ms"] = seconds * 1000
        entry["images_per_s"] = batch / seconds
        variants[VARIANT_NAMES[q]] = entry
    result = {
        **module.metadata(),
        "format": "tflite",
        "signatures": list(TFLITE_SIGNATURES),
        "test_inputs": {"seeds": list(range(batch)), "truncation_psi": 0.7},
        "variants": variants,
        **(extra_metadata or {}),
    }
    with atomic.atomic_file(os.path.join(outdir, REPORT_FILE)) as temp, open(temp, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    return paths, result
