#!/usr/bin/env python3
"""Requests images from TF Serving over gRPC (port 8500) from an sg2tf-export SavedModel.

Needs `tensorflow-serving-api` (which brings grpcio) and TensorFlow or
`tensorflow-cpu`, plus numpy and Pillow; not sg2tf:

  pip install tensorflow-serving-api
  python export/grpc_client.py --server=localhost:8500 --model=stylegan2 \
      --seeds=0-3 --trunc=0.7 --outdir=out

Calls `generate_seeds` (int64 seeds -> uint8 images with sg2tf-generate's seed rule)
and writes out/seed0000.png ...; a conditional network needs --class_idx (the number of
classes is read from the model's metadata).
"""

import argparse
import importlib.util
import os
import re
import sys

# Modules this client imports and the packages that provide them.
_NEEDS = (
    ("tensorflow_serving", "tensorflow-serving-api"),
    ("grpc", "grpcio"),
    ("tensorflow", "tensorflow"),
    ("numpy", "numpy"),
    ("PIL", "Pillow"),
)


def parse_seeds(spec):
    seeds = []
    for item in spec.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)-(\d+)", item)
        if m:
            seeds.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        elif item.isdigit():
            seeds.append(int(item))
        elif item:
            raise ValueError(f"--seeds: {item!r} is not a number or a range like 0-3")
    if not seeds:
        raise ValueError("--seeds: no seeds given")
    return seeds


def class_labels(class_idx, c_dim, rows):
    """One-hot labels (`rows` lists of `c_dim`) for `--class_idx`, None for an unconditional
    model; a bad `--class_idx` is a ValueError worded as sg2tf's programs word it."""
    if c_dim == 0:
        if class_idx is not None:
            raise ValueError(f"--class_idx={class_idx}: the network is unconditional; leave --class_idx out")
        return None
    if class_idx is None or not 0 <= class_idx < c_dim:
        given = "--class_idx: missing" if class_idx is None else f"--class_idx={class_idx}: out of range"
        raise ValueError(f"{given}; the network has {c_dim} classes: pass --class_idx in 0-{c_dim - 1}")
    return [[1.0 if i == class_idx else 0.0 for i in range(c_dim)] for _ in range(rows)]


def label_width(stub, model, signature, timeout):
    from tensorflow_serving.apis import get_model_metadata_pb2 as meta_pb2

    req = meta_pb2.GetModelMetadataRequest()
    req.model_spec.name = model
    req.metadata_field.append("signature_def")
    resp = stub.GetModelMetadata(req, timeout)
    defs = meta_pb2.SignatureDefMap()  # the serving API's message, not TensorFlow's
    resp.metadata["signature_def"].Unpack(defs)
    inputs = defs.signature_def[signature].inputs
    return int(inputs["c"].tensor_shape.dim[1].size) if "c" in inputs else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="localhost:8500")
    parser.add_argument("--model", default="stylegan2")
    parser.add_argument("--seeds", required=True, help="seeds, e.g. 0-3,42")
    parser.add_argument("--trunc", type=float, default=1.0)
    parser.add_argument("--class_idx", type=int, help="class of a conditional network (required for one)")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    # Before anything loads TensorFlow (seconds): say at once what is missing.
    missing = [p for m, p in _NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        sys.stderr.write(f"error: {', '.join(missing)} not installed; pip install {' '.join(missing)}\n")
        return 2
    try:
        import grpc
        import numpy as np
        import tensorflow as tf
        from PIL import Image
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    except ImportError as e:
        sys.stderr.write(f"error: {e}; install tensorflow-serving-api, numpy and Pillow\n")
        return 2
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    channel = grpc.insecure_channel(args.server)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = args.model
    req.model_spec.signature_name = "generate_seeds"
    req.inputs["seeds"].CopyFrom(tf.make_tensor_proto(np.asarray(seeds, np.int64)))
    req.inputs["truncation_psi"].CopyFrom(tf.make_tensor_proto(np.float32(args.trunc)))
    try:
        c = class_labels(args.class_idx, label_width(stub, args.model, "generate_seeds", args.timeout), len(seeds))
        if c is not None:
            req.inputs["c"].CopyFrom(tf.make_tensor_proto(np.asarray(c, np.float32)))
        resp = stub.Predict(req, args.timeout)
    except grpc.RpcError as e:
        sys.stderr.write(f"error: {e.code().name}: {e.details()}\n")
        return 1
    except ValueError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    images = tf.make_ndarray(resp.outputs["images"])
    os.makedirs(args.outdir, exist_ok=True)
    for seed, image in zip(seeds, images):
        Image.fromarray(image[:, :, 0] if image.shape[-1] == 1 else image).save(
            os.path.join(args.outdir, f"seed{seed:04d}.png")
        )
    print(f"wrote {len(images)} images to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
