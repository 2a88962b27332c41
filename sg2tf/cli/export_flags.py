"""Flags of sg2tf-export."""

from absl import flags

# The same as sg2tf.export.QUANTIZATIONS (checked before TensorFlow loads).
QUANTIZATIONS = ("none", "float16", "dynamic")

flags.DEFINE_string("network", None, "Network: NVlabs pickle, stylegan2-ada-pytorch pickle "
                    "(torch extra) or sg2tf snapshot directory.")
flags.DEFINE_enum("format", None, ["saved_model", "tflite"], "Export format.")
flags.DEFINE_string("outdir", None, "Output directory. saved_model: the model base path "
                    "(the model goes to OUTDIR/VERSION); tflite: the .tflite files and "
                    "tflite_report.json.")
flags.DEFINE_enum("noise_mode", "const", ["const", "none"], "Noise mode baked into the "
                  "export (random noise is not reproducible, so it is not offered).")
flags.DEFINE_list("quantize", ["none"], "tflite: one or more of none (float32), float16, "
                  "dynamic, comma-separated.")
flags.DEFINE_integer("batch", 1, "tflite: the fixed batch size of the models "
                     "(SavedModels take any batch).", lower_bound=1)
flags.DEFINE_integer("trunc_cutoff", None, "Truncate only the first N ws (default: all), "
                     "fixed in the export.", lower_bound=0)
flags.DEFINE_integer("version", 1, "saved_model: the version subdirectory.", lower_bound=0)
flags.DEFINE_bool("report", True, "tflite: measure size, latency and error against the "
                  "SavedModel graph and write tflite_report.json.")

flags.mark_flags_as_required(["network", "format", "outdir"])
