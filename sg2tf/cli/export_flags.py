"""Flags of sg2tf-export."""

from absl import flags

from sg2tf.cli import flags_common as common

# The same as sg2tf.export.QUANTIZATIONS (checked before TensorFlow loads).
QUANTIZATIONS = ("none", "float16", "dynamic")

common.define_network()
flags.DEFINE_enum("format", None, ["saved_model", "tflite"], "Export format.")
common.define_outdir(
    "Output directory. saved_model: the model base path (the model goes to "
    "OUTDIR/VERSION); tflite: the .tflite files and tflite_report.json."
)
common.define_noise_mode(
    "const",
    "Noise mode baked into the export (random noise is not reproducible, so it is not offered).",
    exclude=("random",),
)
flags.DEFINE_list("quantize", ["none"], "tflite: one or more of none (float32), float16, dynamic, comma-separated.")
common.define_batch(1, "tflite: the fixed batch size of the models (SavedModels take any batch).", lower_bound=1)
flags.DEFINE_integer("version", 1, "saved_model: the version subdirectory.", lower_bound=0)
common.define_truncation("Truncate only the first N ws (default: all), fixed in the export.", psi=False, lower_bound=0)
flags.DEFINE_bool(
    "report", True, "tflite: measure size, latency and error against the SavedModel graph and write tflite_report.json."
)
common.define_precision(
    "float32",
    "Compute precision of the export: float32 (default; the official force_fp32=True "
    "outputs; the only choice for tflite, whose float16 option is weight quantization), network (as "
    "trained: float16 blocks for GPU serving), float16 or bfloat16 (that type in the network's "
    "reduced-precision blocks; saved_model only).",
    choices=("float32", "network", "float16", "bfloat16"),
)
common.define_overwrite(
    "Replace an existing export (saved_model: OUTDIR/VERSION; tflite: the .tflite files and the report)."
)
common.define_verbose()

flags.mark_flags_as_required(["network", "format", "outdir"])
