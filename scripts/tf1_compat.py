"""Runs NVlabs' TensorFlow 1 code (StyleGAN2, StyleGAN2-ADA TF) from a checkout under TensorFlow 2.

Imported by the scripts that make reference data with the original TF1 code. `import tensorflow`
inside the checkout then gives `tf.compat.v1` in graph mode; `tensorflow.contrib`, which tfutil imports
only for memory statistics, is an empty module; the custom ops default to the checkout's own reference
implementations (`impl='ref'`: their CUDA plugin is compiled at run time and cannot be built here).
Nothing of the checkout is stored: it runs only in the calling process.
"""

import argparse
import filecmp
import inspect
import json
import os
import subprocess
import sys
import tempfile
import types


def git_commit(path):
    """The commit a checkout is at."""
    out = subprocess.run(["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


# The TensorFlow release the TF1 code ran under (set by import_tf1; tf.compat.v1 has no __version__).
TF_VERSION = None


def import_tf1(checkout):
    """Puts `checkout` on the path under the TF1 stand-in and initialises its tflib.

    Returns `(tf.compat.v1, dnnlib.tflib, TensorFlow version)`."""
    global TF_VERSION
    import tensorflow

    version = TF_VERSION = tensorflow.__version__
    v1 = tensorflow.compat.v1
    v1.disable_v2_behavior()
    sys.modules["tensorflow"] = v1
    contrib = types.ModuleType("tensorflow.contrib")
    sys.modules["tensorflow.contrib"] = contrib
    v1.contrib = contrib
    sys.path.insert(0, checkout)
    import dnnlib.tflib as tflib
    from dnnlib.tflib.ops import fused_bias_act, upfirdn_2d

    for module in (fused_bias_act, upfirdn_2d):
        for fn in vars(module).values():
            if inspect.isfunction(fn) and fn.__defaults__ and "cuda" in fn.__defaults__:
                fn.__defaults__ = tuple("ref" if d == "cuda" else d for d in fn.__defaults__)
    tflib.init_tf({"rnd.np_random_seed": 1000, "rnd.tf_random_seed": 1000})
    return v1, tflib, version


def _same_records(a, b):
    """Whether two .tfrecords files hold equal `tf.train.Example`s in the same order."""
    import tensorflow as tf

    ra, rb = (list(tf.compat.v1.io.tf_record_iterator(p)) for p in (a, b))  # graph mode (import_tf1)
    return len(ra) == len(rb) and all(
        tf.train.Example.FromString(x) == tf.train.Example.FromString(y) for x, y in zip(ra, rb)
    )


def check_folders(made, committed, names):
    """The reference scripts' `--check`: prints whether folders `made/name` and `committed/name`
    hold the same files, and exits 1 if not. A .tfrecords file whose records are equal but whose
    bytes are not counts as the same: the original tools serialize each Example's feature map in
    an order the installed protobuf chooses (protobuf 7.36 wrote `data` before `shape` in some runs
    and `shape` first, as the shared official files, in others)."""
    import google.protobuf

    differ, reordered = [], []
    for name in names:
        cmp = filecmp.dircmp(os.path.join(made, name), os.path.join(committed, name))
        differ += [f"{name}/{f}" for f in cmp.left_only + cmp.right_only]
        for f in filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, False)[1]:
            same = f.endswith(".tfrecords") and _same_records(os.path.join(cmp.left, f), os.path.join(cmp.right, f))
            (reordered if same else differ).append(f"{name}/{f}")
    if differ:
        print(f"differ: {differ}")
        sys.exit(1)
    if reordered:
        version = google.protobuf.__version__
        print(f"identical records; {len(reordered)} files' bytes differ in feature order (protobuf {version})")
    else:
        print("identical")


def dataset_script_main(description, make, committed, names, made_by):
    """The command line of a script that runs an original dataset tool: `--stylegan2=CHECKOUT
    --out=DIR` writes `make(checkout, DIR)`'s folders and its metadata as `DIR/made_by`;
    `--check` makes them in a temporary folder and compares with folders `names` of `committed`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan2", required=True, help="NVlabs/stylegan2 (TF1) checkout")
    parser.add_argument("--out", help=f"where to write {', '.join(names)} and {made_by}")
    parser.add_argument("--check", action="store_true", help="compare with the committed folders instead")
    args = parser.parse_args()
    if not args.check and not args.out:
        parser.error("give --out=DIR or --check")
    checkout = os.path.abspath(args.stylegan2)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            make(checkout, tmp)
            check_folders(tmp, committed, names)
        return
    meta = make(checkout, args.out)
    with open(os.path.join(args.out, made_by), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
