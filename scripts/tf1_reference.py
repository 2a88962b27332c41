"""Reference outputs of NVlabs' TF1 StyleGAN2 network code itself, for the variants no PyTorch port reads.

The PyTorch port's `legacy.py` cannot convert StyleGAN2's label-concat mapping or its projection
discriminator, so the references that `make_nvlabs_fixtures.py` makes for those cases come from
rewrites in PyTorch. This script runs the original TF1 code instead: it loads a version-4 pickle's
network states into `dnnlib.tflib.Network` objects of a StyleGAN2 checkout given on the command line
(`training/networks_stylegan2.py` as their build module), under TensorFlow 2's `tf.compat.v1` graph
mode, with the checkout's reference op implementations (`impl='ref'`: the CUDA plugin cannot be built
here), and writes what they compute beside the case's other references:

  tf1-psi{P}-{const,none}-images.npy   Gs images [seed, C, H, W], z = RandomState(seed).randn(1, z_dim),
                                       labels one-hot of seed % c_dim, truncation on all layers;
                                       `const` = the stored noise variables (randomize_noise=False),
                                       `none` = the same with every noise variable set to zero
  tf1-psi{P}-ws.npy                    the dlatents after truncation (G_main's return_dlatents)
  tf1-d-logits.npy                     D on the case's d-input-images/labels
  tf1-reference.json                   the repository and commit, TensorFlow version, and the files

Nothing of the checkout is stored; its code runs only in this process.

Usage:
  python scripts/tf1_reference.py --stylegan2=/work/ext/stylegan2 \\
      tests/data/nvlabs_synth/sg2-cond-orig-16.pkl [more .pkl ...]
"""

import argparse
import json
import os

import numpy as np
import tf1_compat
from tf1_compat import git_commit, import_tf1

from sg2tf.io import safe_pickle
from sg2tf.utils.atomic import atomic_file


def _tf1(checkout):
    """`(tf.compat.v1, tflib)` of a StyleGAN2 checkout, run under TensorFlow 2 (see tf1_compat)."""
    v1, tflib, _ = import_tf1(checkout)
    return v1, tflib


def _network(tflib, state, source):
    """A `dnnlib.tflib.Network` from a pickled state, its components first (as unpickling builds them),
    with the checkout's network module as the build module instead of the pickle's placeholder."""
    components = {name: _network(tflib, comp.state, source) for name, comp in dict(state.get("components", {})).items()}
    net = object.__new__(tflib.Network)
    net.__setstate__(dict(state, build_module_src=source, components=components))
    return net


def make_case(pkl_path, checkout, v1, tflib, networks=None):
    """`networks`: the pickle's `(Gs, D)` already loaded by the checkout (scripts/check_nvlabs_export.py
    unpickles sg2tf's own pickles with it); None: built from the states with the checkout's module."""
    if networks is None:
        with open(pkl_path, "rb") as f:
            _, D_stub, Gs_stub = safe_pickle.load(f)
        if Gs_stub.state["version"] != 4:
            raise SystemExit(f"{pkl_path}: state version {Gs_stub.state['version']}; this script runs StyleGAN2 (v4)")
        with open(os.path.join(checkout, "training", "networks_stylegan2.py"), encoding="utf-8-sig") as f:
            source = f.read()
        networks = _network(tflib, Gs_stub.state, source), _network(tflib, D_stub.state, source)
    Gs, D = networks

    ref_dir = pkl_path[: -len(".pkl")] + "-reference"
    with open(os.path.join(ref_dir, "reference.json"), encoding="utf-8") as f:
        reference = json.load(f)
    seeds = reference["seeds"]
    z = np.concatenate([np.random.RandomState(s).randn(1, Gs.input_shape[1]) for s in seeds]).astype(np.float32)
    c_dim = Gs.input_shapes[1][1]
    labels = np.zeros([len(seeds), c_dim], np.float32)
    if c_dim:
        labels[np.arange(len(seeds)), [s % c_dim for s in seeds]] = 1

    noise_vars = [v for name, v in Gs.components.synthesis.vars.items() if name.startswith("noise")]
    stored_noise = tflib.run(noise_vars)
    written = []

    def save(name, array):
        path = os.path.join(ref_dir, name)
        with atomic_file(path) as temp, open(temp, "wb") as f:
            np.save(f, np.asarray(array, np.float32))
        written.append(name)

    for psi in sorted({case["psi"] for case in reference["cases"]}):
        tag = f"psi{psi:g}"
        for mode in ("const", "none"):
            values = stored_noise if mode == "const" else [np.zeros_like(n) for n in stored_noise]
            tflib.set_vars(dict(zip(noise_vars, values)))
            # get_output_for, not run: run() expects the template's single output, not (images, dlatents).
            z_in = v1.placeholder(v1.float32, z.shape)
            c_in = v1.placeholder(v1.float32, labels.shape)
            out = Gs.get_output_for(z_in, c_in, truncation_psi=psi, randomize_noise=False, return_dlatents=True)
            images, ws = tflib.run(out, {z_in: z, c_in: labels})
            save(f"tf1-{tag}-{mode}-images.npy", images)
        save(f"tf1-{tag}-ws.npy", ws)
    tflib.set_vars(dict(zip(noise_vars, stored_noise)))

    disc = reference["discriminator"]
    d_images = np.load(os.path.join(ref_dir, disc["images"]))
    d_labels = np.load(os.path.join(ref_dir, disc["labels"]))
    x_in = v1.placeholder(v1.float32, d_images.shape)
    c_in = v1.placeholder(v1.float32, d_labels.shape)
    save("tf1-d-logits.npy", tflib.run(D.get_output_for(x_in, c_in), {x_in: d_images, c_in: d_labels}))

    meta = {
        "made_by": "scripts/tf1_reference.py",
        "repository": "NVlabs/stylegan2",
        "commit": git_commit(checkout),
        "build_module": "training/networks_stylegan2.py",
        "ops": "dnnlib.tflib.ops reference implementations (impl='ref')",
        "tensorflow": tf1_compat.TF_VERSION,
        "seeds": seeds,
        "labels": "one-hot of seed % c_dim" if c_dim else "none",
        "noise": {"const": "stored noise variables", "none": "every noise variable set to zero"},
        "files": written,
    }
    with atomic_file(os.path.join(ref_dir, "tf1-reference.json")) as temp, open(temp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"{pkl_path}: wrote {len(written)} files to {ref_dir}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stylegan2", required=True, help="NVlabs/stylegan2 (TF1) checkout")
    parser.add_argument("pickles", nargs="+", help="version-4 TF pickles with a <case>-reference/ folder beside them")
    args = parser.parse_args()
    v1, tflib = _tf1(os.path.abspath(args.stylegan2))
    for path in args.pickles:
        make_case(path, os.path.abspath(args.stylegan2), v1, tflib)


if __name__ == "__main__":
    main()
