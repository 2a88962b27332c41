"""Export of generators for serving: SavedModel (TF Serving) and TFLite (devices).

  from sg2tf.export import export_saved_model, export_tflite
  export_saved_model(G, "models/ffhq")                  # models/ffhq/1/saved_model.pb
  export_tflite(G, "tflite/ffhq", quantize=("none", "float16", "dynamic"), batch=1)

Both trace the generator with the reference (stock TensorFlow) ops. See
docs/serving.md for the signatures.
"""

from sg2tf.export.module import EXPORT_NOISE_MODES, SIGNATURES, TFLITE_SIGNATURES, GeneratorModule, to_uint8
from sg2tf.export.numpy_rng import randn_from_seeds
from sg2tf.export.saved_model import METADATA_FILE, check_stock_ops, export_saved_model, saved_model_op_types
from sg2tf.export.tflite import QUANTIZATIONS, REPORT_FILE, export_tflite, model_filename

__all__ = [
    "EXPORT_NOISE_MODES",
    "SIGNATURES",
    "TFLITE_SIGNATURES",
    "GeneratorModule",
    "to_uint8",
    "randn_from_seeds",
    "METADATA_FILE",
    "check_stock_ops",
    "export_saved_model",
    "saved_model_op_types",
    "QUANTIZATIONS",
    "REPORT_FILE",
    "export_tflite",
    "model_filename",
]
