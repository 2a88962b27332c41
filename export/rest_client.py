#!/usr/bin/env python3
"""Requests images from a TF Serving REST endpoint serving an sg2tf-export SavedModel.

Standard library only (no TensorFlow, numpy or sg2tf needed):

  python export/rest_client.py --url=http://localhost:8501/v1/models/stylegan2 \
      --seeds=0-3 --trunc=0.7 --outdir=out

It calls the `generate_seeds` signature (int64 seeds -> uint8 images, the seed rule of
sg2tf-generate, so seed 42 gives the same picture here as there) and writes
out/seed0042.png ... For conditional networks pass --class_idx; the label width is read
from the model's metadata. With --z_json=FILE ([[z...], ...]) it calls `serving_default`
with explicit latents instead.
"""

import argparse
import json
import os
import re
import struct
import sys
import urllib.error
import urllib.request
import zlib


def parse_seeds(spec):
    seeds = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        m = re.fullmatch(r"(\d+)-(\d+)", item)
        if m:
            seeds.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        elif item.isdigit():
            seeds.append(int(item))
        else:
            raise ValueError(f"--seeds: {item!r} is not a number or a range like 0-3")
    if not seeds:
        raise ValueError("--seeds: no seeds given")
    return seeds


def write_png(path, image):
    """Writes an HWC (C = 1 or 3) nested list of uint8 values as a PNG."""
    height, width = len(image), len(image[0])
    channels = len(image[0][0])
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    raw = bytearray()
    for row in image:
        raw.append(0)
        for pixel in row:
            raw.extend(int(v) for v in pixel)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 6))
            + chunk(b"IEND", b"")
        )


def request(url, payload=None, timeout=60):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:
            body = json.loads(body).get("error", body)
        except ValueError:
            pass
        raise RuntimeError(f"{url}: HTTP {e.code}: {body}") from None


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


def label_width(model_url, signature):
    meta = request(f"{model_url}/metadata")
    sig = meta["metadata"]["signature_def"]["signature_def"][signature]
    if "c" not in sig["inputs"]:
        return 0
    return int(sig["inputs"]["c"]["tensor_shape"]["dim"][1]["size"])


def predict(model_url, signature, inputs, timeout=60):
    """Calls `signature` with the columnar ("inputs") format; returns the images as a
    nested list [N][H][W][C] of ints."""
    result = request(f"{model_url}:predict", {"signature_name": signature, "inputs": inputs}, timeout)
    outputs = result["outputs"]
    return outputs["images"] if isinstance(outputs, dict) else outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="model URL, e.g. http://localhost:8501/v1/models/stylegan2")
    parser.add_argument("--seeds", help="seeds, e.g. 0-3,42 (generate_seeds signature)")
    parser.add_argument("--z_json", help="JSON file with latents [[...], ...] (serving_default signature)")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi")
    parser.add_argument("--class_idx", type=int, help="class of a conditional network (required for one)")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    if (args.seeds is None) == (args.z_json is None):
        parser.error("give exactly one of --seeds and --z_json")
    model_url = args.url.rstrip("/")
    signature = "generate_seeds" if args.seeds else "serving_default"
    try:
        if args.seeds:
            seeds = parse_seeds(args.seeds)
            inputs = {"seeds": seeds}
            names = [f"seed{s:04d}.png" for s in seeds]
        else:
            with open(args.z_json) as f:
                z = json.load(f)
            inputs = {"z": z}
            names = [f"z{i:04d}.png" for i in range(len(z))]
        inputs["truncation_psi"] = args.trunc
        c = class_labels(args.class_idx, label_width(model_url, signature), len(names))
        if c is not None:
            inputs["c"] = c
        images = predict(model_url, signature, inputs, args.timeout)
    except (RuntimeError, ValueError, OSError, KeyError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    os.makedirs(args.outdir, exist_ok=True)
    for name, image in zip(names, images):
        write_png(os.path.join(args.outdir, name), image)
    print(f"wrote {len(images)} images to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
