"""Runs stylegan2-ada-pytorch's own metric code on a fixed generator and dataset, for sg2tf's metric tests.

The official metrics need feature networks (Inception, VGG16) that cannot be downloaded here, and any
comparison must use the same detector on both sides. So a small deterministic detector is injected into
the official code in place of every feature network: a fixed random projection of the uint8 pixels
(`features = (flatten_nchw(images) / 255) @ P`, probabilities `softmax(features @ Q)`, LPIPS-like
`features` for PPL, P and Q drawn from `RandomState(seed)`). The official code then runs unchanged:
its dataset reader, its generator sampling, its uint8 conversion, its statistics (FeatureStats with
biased covariance, sqrtm, KID subsets, float16 precision/recall, IS splits, PPL's slerp/lerp, crop,
epsilon and percentile filter). Every random number it draws is recorded (`torch.randn`, `torch.rand`,
`torch.randn_like`, `np.random.randint`, `np.random.choice`), so that sg2tf can be fed the same samples.

Writes into `--out` (a directory):
  official_metrics.json   detector spec, dataset spec, per metric: the official result and protocol
                          numbers read from `metrics/metric_main.py`, the repository and commit
  official_metrics.npz    per metric: the features the official code collected (reals, generated),
                          and the draws it made, keyed `<metric>/<what>`

Usage:
  python scripts/official_metrics.py --checkout=/work/ext/stylegan2-ada-pytorch \\
      --network=tests/data/fixtures/nvlabs_pkl/sg2-f32.pkl --out=tests/data/official_metrics
"""

import argparse
import ast
import json
import os
import sys
import tempfile

import numpy as np
from tf1_compat import git_commit

from sg2tf.utils.atomic import atomic_file

# The sizes of this comparison: small, so the recorded draws stay small; the protocol numbers of the
# real metrics (50k images, ...) are read from metric_main.py and recorded separately.
NUM_REALS = 100
NUM_GEN = 96
NUM_PPL = 24
DETECTOR = dict(seed=2024, features=48, classes=10)
# The metrics compared and the official compute function each one calls (with the sizes above).
METRICS = ("fid50k_full", "fid50k", "kid50k_full", "pr50k3_full", "is50k", "ppl_zfull", "ppl_wend", "ppl2_wend")


def official_protocol(checkout):
    """Per registered metric of metric_main.py: the compute function, its keyword arguments and the
    dataset_kwargs updates it makes (read from the source, not run)."""
    path = os.path.join(checkout, "metrics", "metric_main.py")
    with open(path, encoding="utf-8-sig") as f:
        tree = ast.parse(f.read(), path)
    table = {}
    for fn in tree.body:
        if not isinstance(fn, ast.FunctionDef) or not any(
            getattr(d, "id", "") == "register_metric" for d in fn.decorator_list
        ):
            continue
        entry = {"dataset_kwargs": {}}
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name == "opts.dataset_kwargs.update":
                entry["dataset_kwargs"].update({k.arg: ast.literal_eval(k.value) for k in node.keywords})
            elif name.split(".")[-1].startswith("compute_"):
                entry["compute"] = name
                entry["kwargs"] = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg != "opts"}
        table[fn.name] = entry
    return table


def projection(in_dim, out_dim, seed):
    """The detector's fixed matrix for inputs of `in_dim` values (numpy; both sides draw the same)."""
    return (np.random.RandomState(seed + in_dim).randn(in_dim, out_dim) / np.sqrt(in_dim)).astype(np.float32)


def make_detector(torch):
    """The injected feature network (see the module docstring), as a torch module. Its matrices depend
    on the input size only (PPL's crop changes it)."""
    Q = torch.from_numpy(np.random.RandomState(DETECTOR["seed"]).randn(DETECTOR["features"], DETECTOR["classes"]))

    class Projection(torch.nn.Module):
        def forward(self, images, return_features=False, return_lpips=False, resize_images=True, no_output_bias=False):
            x = images.to(torch.float32).reshape(images.shape[0], -1) / 255
            P = torch.from_numpy(projection(x.shape[1], DETECTOR["features"], DETECTOR["seed"]))
            features = x @ P
            if return_features or return_lpips:
                return features
            return torch.softmax(features @ Q.to(torch.float32), dim=1)

    return Projection()


class Recorder:
    """Wraps the random functions the metric code calls and keeps every value they return."""

    def __init__(self, torch):
        self.torch = torch
        self.values = {}
        self.tag = None

    def _keep(self, kind, value):
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        self.values.setdefault(f"{self.tag}/{kind}", []).append(arr)
        return value

    def install(self):
        torch, keep = self.torch, self._keep
        randn, rand, randn_like = torch.randn, torch.rand, torch.randn_like
        randint, choice = np.random.randint, np.random.choice
        torch.randn = lambda *a, **k: keep("randn", randn(*a, **k))
        torch.rand = lambda *a, **k: keep("rand", rand(*a, **k))
        torch.randn_like = lambda *a, **k: keep("randn_like", randn_like(*a, **k))
        np.random.randint = lambda *a, **k: keep("randint", randint(*a, **k))
        np.random.choice = lambda *a, **k: keep("choice", choice(*a, **k))


def real_images(torch, G):
    """The real images, uint8 NCHW: half sg2tf's synthetic shapes (seeded), half the official G's own
    images (seeds 1000..., stored noise), so that generated and real manifolds overlap and precision
    and recall are not trivially 0."""
    from sg2tf.data import synthetic

    shapes = synthetic.synthetic_source(NUM_REALS // 2, resolution=G.img_resolution, seed=7)
    own = []
    for seed in range(1000, 1000 + NUM_REALS - NUM_REALS // 2):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim).astype(np.float32))
        own.append((G(z, None, noise_mode="const") * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()[0])
    return np.concatenate([np.stack([shapes.load(i) for i in range(shapes.num_images)]), np.stack(own)])


def write_dataset(directory, reals):
    """`reals` as .tfrecords, and as a folder of the same images in record order (`sg2tf-dataset
    extract`), which the official ImageFolderDataset reads (a folder rather than a ZIP: its forked
    DataLoader workers would share one open ZIP file)."""
    from sg2tf.data import tools, writer

    tfrecords = os.path.join(directory, "reals")
    source = writer.ImageSource(
        num_images=len(reals), resolution=reals.shape[-1], channels=reals.shape[1], load=lambda i: reals[i]
    )
    writer.write_dataset(tfrecords, source, progress=False)
    folder = os.path.join(directory, "reals-png")
    tools.extract(tfrecords, folder, progress=False)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", required=True, help="stylegan2-ada-pytorch checkout")
    parser.add_argument("--network", required=True, help="a network pickle legacy.py reads (32x32 RGB)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (a second run with another count "
        "measures the official float32 code's own evaluation-order spread)",
    )
    args = parser.parse_args()
    checkout = os.path.abspath(args.checkout)
    sys.path.insert(0, checkout)
    import torch

    torch.set_num_threads(args.threads)
    # The official code pins label tensors for a GPU; with no accelerator torch 2.x refuses: a no-op here.
    torch.Tensor.pin_memory = lambda self, *a, **k: self
    # numpy 2 renamed percentile's `interpolation` (which PPL's filter passes) to `method`.
    percentile = np.percentile
    np.percentile = lambda a, q, interpolation=None, **k: percentile(a, q, method=interpolation or "linear", **k)
    import dnnlib
    import legacy
    from metrics import frechet_inception_distance as fid_mod
    from metrics import (
        inception_score,
        kernel_inception_distance,
        metric_utils,
        perceptual_path_length,
        precision_recall,
    )

    with open(args.network, "rb") as f:
        G = legacy.load_network_pkl(f)["G_ema"].eval().requires_grad_(False)
    detector = make_detector(torch)
    metric_utils.get_feature_detector = lambda *a, **k: detector
    protocol = official_protocol(checkout)

    # Collected features of every FeatureStats, per metric.
    features = {}
    original_append = metric_utils.FeatureStats.append

    def append(stats, x):
        before = stats.num_items
        original_append(stats, x)
        kept = max(0, min(stats.num_items, stats.max_items or stats.num_items) - before)
        features.setdefault(f"{recorder.tag}/features{id(stats)}", []).append(np.asarray(x, np.float32)[:kept])

    metric_utils.FeatureStats.append = append
    # PPL's per-sample distances, before the percentile filter.
    sampler_forward = perceptual_path_length.PPLSampler.forward

    def ppl_forward(sampler, c):
        dist = sampler_forward(sampler, c)
        features.setdefault(f"{recorder.tag}/distances", []).append(dist.numpy().astype(np.float64))
        return dist

    perceptual_path_length.PPLSampler.forward = ppl_forward
    recorder = Recorder(torch)
    recorder.install()

    results = {}
    reals = real_images(torch, G)
    with tempfile.TemporaryDirectory() as tmp:
        real_dir = write_dataset(tmp, reals)
        for name in METRICS:
            spec = protocol[name]
            recorder.tag = name
            torch.manual_seed(0)
            np.random.seed(0)
            dataset_kwargs = dict(
                class_name="training.dataset.ImageFolderDataset", path=real_dir, use_labels=False, xflip=True
            )
            dataset_kwargs.update(spec["dataset_kwargs"])
            opts = metric_utils.MetricOptions(
                G=G,
                # Stored noise for the generated images (the official default draws it at random:
                # recorded, it would be far larger than everything else); PPL sets its own.
                G_kwargs={} if name.startswith("ppl") else dict(noise_mode="const"),
                dataset_kwargs=dataset_kwargs,
                num_gpus=1,
                rank=0,
                device=torch.device("cpu"),
                cache=False,
            )
            kw = dict(spec["kwargs"])
            if "num_gen" in kw:
                kw["num_gen"] = NUM_GEN
            if kw.get("max_real") is not None:
                kw["max_real"] = min(kw["max_real"], 2 * NUM_REALS)
            if "num_samples" in kw:
                kw["num_samples"] = NUM_PPL
            fn = {
                "frechet_inception_distance.compute_fid": fid_mod.compute_fid,
                "kernel_inception_distance.compute_kid": kernel_inception_distance.compute_kid,
                "precision_recall.compute_pr": precision_recall.compute_pr,
                "inception_score.compute_is": inception_score.compute_is,
                "perceptual_path_length.compute_ppl": perceptual_path_length.compute_ppl,
            }[spec["compute"]]
            value = fn(opts, **kw)
            results[name] = {"value": value, "called_with": kw}
            print(name, value, flush=True)
            if name.startswith("ppl"):
                # PPL divides a difference of nearby images by eps^2, so float32 evaluation order shows.
                # The official synthesis has two float32 paths (grouped "fused" modulated convolution,
                # its inference default, and per-sample modulation): the same draws through the other
                # path measure the original's own spread.
                recorder.tag = name + "-unfused"
                torch.manual_seed(0)
                np.random.seed(0)
                opts.G_kwargs = dnnlib.EasyDict(fused_modconv=False)
                results[name]["value_unfused"] = fn(opts, **kw)

    arrays = {"reals": reals}
    # Draws as flat streams in the order drawn (their shapes vary: latents, noise buffers, indices).
    for key, parts in recorder.values.items():
        if "-unfused/" not in key:  # the second PPL pass repeats the first one's draws
            arrays[key] = np.concatenate([np.ravel(p) for p in parts])
    for key, parts in features.items():
        arrays[key] = np.concatenate(parts)
    # Feature-stat collections in creation order per metric: reals first where a metric has them.
    for name in METRICS:
        keys = [k for k in arrays if k.startswith(f"{name}/features") and not k[len(name) + 9 :].startswith("_")]
        for i, key in enumerate(keys):
            arrays[f"{name}/features_{i}"] = arrays.pop(key)

    meta = {
        "made_by": "scripts/official_metrics.py",
        "repository": "NVlabs/stylegan2-ada-pytorch",
        "commit": git_commit(checkout),
        "torch": torch.__version__,
        "network": os.path.basename(args.network),
        "dataset": "reals in the npz (uint8 NCHW): synthetic shapes (seed 7), then G's images for seeds 1000...",
        "detector": dict(
            DETECTOR,
            features_rule="flatten_nchw(images) / 255 @ P, "
            "P = RandomState(seed + in_dim).randn(in_dim, features) / sqrt(in_dim)",
            probs_rule="softmax(features @ Q), Q = RandomState(seed).randn(features, classes)",
        ),
        "G_kwargs": {"noise_mode": "const", "note": "PPL: official (none given)"},
        "protocol": {name: protocol[name] for name in sorted(protocol)},
        "results": results,
    }
    os.makedirs(args.out, exist_ok=True)
    with atomic_file(os.path.join(args.out, "official_metrics.npz")) as temp, open(temp, "wb") as f:
        np.savez_compressed(f, **arrays)
    with atomic_file(os.path.join(args.out, "official_metrics.json")) as temp, open(temp, "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
