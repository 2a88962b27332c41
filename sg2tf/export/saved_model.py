"""SavedModel export for TF Serving, `saved_model_cli` and plain TensorFlow."""

import json
import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry

from sg2tf.export.module import SIGNATURES, GeneratorModule
from sg2tf.networks.precision import with_precision
from sg2tf.utils import atomic

METADATA_FILE = "sg2tf_export.json"
CUSTOM_OP_PREFIX = "Sg2tf"


def saved_model_op_types(export_dir):
    """The set of op types in every graph and function of a SavedModel."""

    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def check_stock_ops(export_dir):
    """Raises ValueError when the SavedModel uses an op that stock TensorFlow lacks
    (the sg2tf custom ops, or any op not registered without them)."""

    bad = sorted(
        op
        for op in saved_model_op_types(export_dir)
        if op.startswith(CUSTOM_OP_PREFIX) or op_def_registry.get(op) is None
    )
    if bad:
        raise ValueError(f"{export_dir}: the export uses non-stock ops {bad}")


def save_module(module, export_dir, names=SIGNATURES):
    """Saves a `GeneratorModule` with the signatures `names` to `export_dir`."""
    functions = module.concrete_functions(names)
    tf.saved_model.save(
        module, export_dir, signatures=functions, options=tf.saved_model.SaveOptions(save_debug_info=False)
    )


def export_saved_model(
    G, outdir, noise_mode="const", truncation_cutoff=None, version=1, extra_metadata=None, precision="float32"
):
    """Exports G as a SavedModel at `outdir/<version>` (the layout TF Serving reads
    with `--model_base_path=outdir`).

    Args:
      G: an sg2tf `Generator`.
      outdir: model base directory.
      noise_mode: 'const' or 'none'.
      truncation_cutoff: truncate only the first this many ws (None: all).
      version: the numeric version subdirectory.
      extra_metadata: more facts for `sg2tf_export.json` (e.g. the source network).
      precision: compute precision (`sg2tf.networks.precision`): 'float32' (default),
        'network' (as trained, e.g. float16 blocks for GPU serving), 'float16' or
        'bfloat16'. `sg2tf_export.json` records it as `compute_precision`.

    Returns:
      The SavedModel directory.
    """
    if int(version) < 0:
        raise ValueError(f"version must be a non-negative integer, got {version}")
    if precision == "auto":
        raise ValueError(
            "precision: choose float32, network, float16 or bfloat16 for an export "
            "(the serving device decides what is fast, not this machine)"
        )
    G = with_precision(G, precision)
    module = GeneratorModule(G, noise_mode=noise_mode, truncation_cutoff=truncation_cutoff)
    export_dir = os.path.join(outdir, str(int(version)))
    metadata = {**module.metadata(), "format": "saved_model", "signatures": list(SIGNATURES), **(extra_metadata or {})}

    with atomic.atomic_dir(export_dir) as tmp:
        save_module(module, tmp)
        check_stock_ops(tmp)
        with open(os.path.join(tmp, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2, sort_keys=True)
    return export_dir
