#!/usr/bin/env python3
"""Runs an sg2tf-export TFLite generator on a device or desktop; no sg2tf needed.

Needs numpy and one TFLite interpreter: `ai_edge_litert` (LiteRT), `tflite_runtime`, or
TensorFlow's `tf.lite`; Pillow only for writing PNGs.

  python export/tflite_runner.py --model=generator-float32.tflite --seeds=0-7 \
      --trunc=0.7 --outdir=out

Latents follow sg2tf-generate's rule, `np.random.RandomState(seed).randn(1, z_dim)`,
so a seed gives the same picture (up to the model's quantization error). The model has
a fixed batch: seeds are run in chunks of that size (the last chunk padded).

  --signature=serving_default (uint8 images, default) or synthesis_float (float images
  in [-1, 1], after the mapping signature); --save_npz=FILE also stores the seeds, z, ws
  and images (for comparisons); --benchmark=N times N calls and prints images/s.
"""

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time

import numpy as np


def load_interpreter(path, threads=None):
    errors = []
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter"):
        try:
            module = __import__(name, fromlist=["Interpreter"])
            return module.Interpreter(model_path=path, num_threads=threads)
        except ImportError as e:
            errors.append(str(e))
    try:
        import warnings

        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tf.lite.Interpreter(model_path=path, num_threads=threads)
    except ImportError as e:
        errors.append(str(e))
    raise ImportError("no TFLite interpreter found (pip install ai-edge-litert): " + "; ".join(errors))


@contextlib.contextmanager
def without_xnnpack_notice():
    """Runs the body with stderr (file descriptor 2) captured and prints it again without the
    INFO line TFLite writes when its first call creates the XNNPACK delegate (sg2tf itself
    uses sg2tf.utils.console.quietly; this script imports no sg2tf)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines()
            kept = [line for line in lines if "XNNPACK delegate" not in line]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


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


def z_from_seed(seed, z_dim):
    """The official seed rule (the same as sg2tf.utils.seeds.z_from_seed)."""
    return np.random.RandomState(int(seed)).randn(1, z_dim).astype(np.float32)


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


class Generator:
    """The signature runners of a TFLite generator."""

    def __init__(self, path, threads=None):
        self.interpreter = load_interpreter(path, threads)
        signatures = self.interpreter.get_signature_list()
        missing = {"serving_default", "mapping", "synthesis_float"} - set(signatures)
        if missing:
            raise ValueError(
                f"{path}: not an sg2tf-export TFLite model (missing signatures "
                f"{sorted(missing)}; has {sorted(signatures)})"
            )
        self.runners = {name: self.interpreter.get_signature_runner(name) for name in signatures}
        details = self.runners["serving_default"].get_input_details()
        self.batch, self.z_dim = (int(v) for v in details["z"]["shape"])
        self.c_dim = int(details["c"]["shape"][1]) if "c" in details else 0

    def inputs(self, z, psi, class_idx):
        inputs = {"z": z, "truncation_psi": np.float32(psi)}
        c = class_labels(class_idx, self.c_dim, len(z))
        if c is not None:
            inputs["c"] = np.asarray(c, np.float32)
        return inputs

    def run(self, seeds, psi=1.0, class_idx=None, signature="serving_default"):
        """Returns `(z, ws, images)` for `seeds`, chunked to the model's batch."""
        zs, wss, images = [], [], []
        for start in range(0, len(seeds), self.batch):
            chunk = list(seeds[start : start + self.batch])
            count = len(chunk)
            chunk += [chunk[-1]] * (self.batch - count)
            z = np.concatenate([z_from_seed(s, self.z_dim) for s in chunk])
            inputs = self.inputs(z, psi, class_idx)
            with without_xnnpack_notice():  # the process's first call announces the delegate
                ws = self.runners["mapping"](**inputs)["ws"]
            if signature == "synthesis_float":
                out = self.runners["synthesis_float"](ws=ws)["images"]
            else:
                out = self.runners["serving_default"](**inputs)["images"]
            zs.append(z[:count])
            wss.append(ws[:count])
            images.append(out[:count])
        return np.concatenate(zs), np.concatenate(wss), np.concatenate(images)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help=".tflite file")
    parser.add_argument("--seeds", required=True, help="seeds, e.g. 0-3,42")
    parser.add_argument("--trunc", type=float, default=1.0, help="truncation psi")
    parser.add_argument("--class_idx", type=int, help="class of a conditional network (required for one)")
    parser.add_argument("--signature", default="serving_default", choices=["serving_default", "synthesis_float"])
    parser.add_argument("--outdir", help="write seedNNNN.png here")
    parser.add_argument("--save_npz", help="write seeds, z, ws and images to this .npz")
    parser.add_argument("--threads", type=int, help="interpreter threads")
    parser.add_argument("--benchmark", type=int, default=0, help="time this many serving_default calls")
    args = parser.parse_args(argv)
    if not (args.outdir or args.save_npz or args.benchmark):
        parser.error("nothing to do: give --outdir (PNGs), --save_npz or --benchmark")
    try:
        seeds = parse_seeds(args.seeds)
        gen = Generator(args.model, args.threads)
        z, ws, images = gen.run(seeds, args.trunc, args.class_idx, args.signature)
    except (ValueError, ImportError, OSError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if args.save_npz:
        np.savez(args.save_npz, seeds=np.asarray(seeds, np.int64), z=z, ws=ws, images=images)
    if args.outdir:
        from PIL import Image

        os.makedirs(args.outdir, exist_ok=True)
        uint8 = images if images.dtype == np.uint8 else np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)
        for seed, image in zip(seeds, uint8):
            Image.fromarray(image[:, :, 0] if image.shape[-1] == 1 else image).save(
                os.path.join(args.outdir, f"seed{seed:04d}.png")
            )
        print(f"wrote {len(seeds)} images to {args.outdir}")
    if args.benchmark:
        inputs = gen.inputs(z_from_seed(0, gen.z_dim).repeat(gen.batch, 0), args.trunc, args.class_idx)
        runner = gen.runners["serving_default"]
        runner(**inputs)
        start = time.perf_counter()
        for _ in range(args.benchmark):
            runner(**inputs)
        seconds = (time.perf_counter() - start) / args.benchmark
        print(f"{seconds * 1000:.2f} ms per call of batch {gen.batch}: {gen.batch / seconds:.2f} images/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
