"""Reads the defaults that sg2tf's tests assert out of the original code, into tests/data/official_defaults.json.

What it reads:

* the activation table of the fused bias+activation op, from stylegan2-ada-pytorch
  (`torch_utils/ops/bias_act.py`, imported and evaluated: needs torch) and from TF1 StyleGAN2
  (`dnnlib/tflib/ops/fused_bias_act.py`, read as source: TensorFlow 1 is not importable here);
  per activation its default alpha, default gain and CUDA kernel index;
* LPIPS's input shift and scale (`ScalingLayer` in richzhang's `lpips/lpips.py`, the package the
  perceptual distance comes from; read as source, since importing it needs torchvision).

The tests compare sg2tf's own tables with this file, so a wrong default in sg2tf cannot hide behind a
test that copies it. Nothing of the original code is stored: only the numbers and where they came from.

Usage:
  python scripts/official_defaults.py --ada_pytorch=/work/ext/stylegan2-ada-pytorch \\
      --stylegan2=/work/ext/stylegan2 --lpips=DIR_WITH_lpips_PACKAGE --out=tests/data/official_defaults.json
  (DIR_WITH_lpips_PACKAGE: an unpacked `lpips` wheel, e.g. `pip download --no-deps lpips` then unzip.)
"""

import argparse
import ast
import importlib
import json
import math
import os
import sys

from tf1_compat import git_commit

from sg2tf.utils.atomic import atomic_file


def _number(node):
    """Evaluates the few expressions the tables use: literals, None, -x, np.sqrt(literal)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand)
    if isinstance(node, ast.Call) and ast.unparse(node.func) in ("np.sqrt", "math.sqrt") and len(node.args) == 1:
        return math.sqrt(_number(node.args[0]))
    raise ValueError(f"unexpected expression in the table: {ast.unparse(node)}")


def tf1_activations(stylegan2_dir):
    """The activation table of TF1 StyleGAN2's fused_bias_act.py, read from its source."""
    path = os.path.join(stylegan2_dir, "dnnlib", "tflib", "ops", "fused_bias_act.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "activation_funcs" for t in node.targets):
            table = {}
            for key, call in zip(node.value.keys, node.value.values):
                kw = {k.arg: k.value for k in call.keywords}
                table[key.value] = {
                    "def_alpha": _number(kw["def_alpha"]),
                    "def_gain": _number(kw["def_gain"]),
                    "cuda_idx": _number(kw["cuda_idx"]),
                }
            return table
    raise SystemExit(f"no activation_funcs table in {path}")


def pytorch_activations(ada_dir):
    """The activation table of stylegan2-ada-pytorch's bias_act.py, imported from the checkout."""
    sys.path.insert(0, ada_dir)
    module = importlib.import_module("torch_utils.ops.bias_act")
    return {
        name: {"def_alpha": float(spec.def_alpha), "def_gain": float(spec.def_gain), "cuda_idx": int(spec.cuda_idx)}
        for name, spec in module.activation_funcs.items()
    }


def lpips_scaling(lpips_dir):
    """LPIPS's ScalingLayer shift and scale, read from lpips/lpips.py."""
    path = os.path.join(lpips_dir, "lpips", "lpips.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("register_buffer"):
            name = node.args[0].value
            if name in ("shift", "scale"):
                lists = [n for n in ast.walk(node.args[1]) if isinstance(n, ast.List)]
                found[name] = [_number(e) for e in lists[0].elts]
    if set(found) != {"shift", "scale"}:
        raise SystemExit(f"ScalingLayer buffers not found in {path}")
    return found


def lpips_version(lpips_dir):
    for entry in sorted(os.listdir(lpips_dir)):
        if entry.startswith("lpips-") and entry.endswith(".dist-info"):
            return entry[len("lpips-") : -len(".dist-info")]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ada_pytorch", required=True, help="stylegan2-ada-pytorch checkout")
    parser.add_argument("--stylegan2", required=True, help="TF1 StyleGAN2 checkout")
    parser.add_argument("--lpips", required=True, help="directory holding the lpips package (unpacked wheel)")
    parser.add_argument("--out", default="tests/data/official_defaults.json")
    args = parser.parse_args()
    result = {
        "bias_act": {
            "stylegan2-ada-pytorch": {
                "source": "NVlabs/stylegan2-ada-pytorch torch_utils/ops/bias_act.py activation_funcs",
                "commit": git_commit(args.ada_pytorch),
                "activations": pytorch_activations(args.ada_pytorch),
            },
            "stylegan2": {
                "source": "NVlabs/stylegan2 dnnlib/tflib/ops/fused_bias_act.py activation_funcs",
                "commit": git_commit(args.stylegan2),
                "activations": tf1_activations(args.stylegan2),
            },
        },
        "lpips": {
            "source": "richzhang/PerceptualSimilarity lpips/lpips.py ScalingLayer (PyPI package lpips)",
            "version": lpips_version(args.lpips),
            **lpips_scaling(args.lpips),
        },
        "made_by": "scripts/official_defaults.py",
    }
    with atomic_file(args.out) as temp, open(temp, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
