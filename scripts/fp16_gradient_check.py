"""sg2tf's float16 (bfloat16) gradients against stylegan2-ada-pytorch's, on any G and D.

Builds the official G and D from the settings given as flags (resolution, channels, precision
blocks, batch; `--perturb=0`: the official initialisation as it is), loads the same weights and
noise buffers into sg2tf, and computes every parameter's gradient of

  G: sum(G(z, noise_mode='const') * r)    D: sum(D(images))

(inputs from scripts/official_fp16_gradients.py `inputs`) in both codes with the reduced-precision
blocks and with `force_fp32`. Prints, per tensor class, the worst and median relative distance of
the reduced-precision gradient to the float32 one for sg2tf and for the official code, how many
tensors are beyond 1e-2, and how many of sg2tf's are beyond tests/test_fp16_gradients.py's bound
(max(1e-2 scaled by the format's unit roundoff, twice the official distance); the noise strengths
by their median). `--json` writes every tensor's distances. Needs torch and a checkout.

Usage:
  python scripts/fp16_gradient_check.py --checkout=/path/to/stylegan2-ada-pytorch \\
      --resolution=256 --num_fp16_res=4 --channel_base=2048 --channel_max=64 --batch=4 --perturb=0
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import official_fp16_gradients as official  # noqa: E402
import record_training_reference as recorder  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_fp16_gradients as criterion  # noqa: E402  (the test's bound, one definition)


def tensor_class(net, name):
    """`G ToRGB biases`, `D weights`, ... of an official parameter name."""
    kind = "noise strengths" if name.endswith("noise_strength") else "biases" if name.endswith("bias") else "weights"
    if net == "G":
        part = (
            "ToRGB"
            if ".torgb." in name
            else "affine"
            if ".affine." in name
            else "mapping"
            if "mapping" in name
            else "conv"
        )
        return f"G {part} {kind}"
    return f"D {'fromrgb ' if 'fromrgb' in name else ''}{kind}"


def sg2tf_gradients(G, D, data, precision):
    """`{G: {variable path: grad}, D: {...}}` of sg2tf's G and D computing in `precision`
    (float32: `force_fp32`), keyed by the paths of `G` and `D` themselves."""
    import tensorflow as tf

    from sg2tf.networks import precision as P

    z, r, images = (tf.constant(a) for a in data)
    force = precision == "float32"
    out = {}
    for name, net in (("G", G), ("D", D)):
        run = net if force else P.with_precision(net, precision)
        with tf.GradientTape() as tape:
            if name == "G":
                loss = tf.reduce_sum(tf.cast(run(z, None, noise_mode="const", force_fp32=force), tf.float32) * r)
            else:
                loss = tf.reduce_sum(tf.cast(run(images, None, force_fp32=force), tf.float32))
        grads = tape.gradient(loss, run.trainable_variables)
        # A precision copy has the same variables in the same order.
        out[name] = {v.path: g.numpy() for v, g in zip(net.trainable_variables, grads)}
    return out


def official_draws(torch, networks, oG, oD, data, precision, count, seed):
    """`{G: {name: [distance, ...]}, D: ...}`: `count` more draws of the official code's
    reduced-precision distance to float32, each from the weights nudged by one float16 rounding
    (times 1 + 2^-11 N(0, 1), both precisions from the same nudged weights; see
    tests/test_training_parity.py FP16_FACTOR: an unnudged rerun repeats the same roundings)."""
    import copy

    out = {"G": {}, "D": {}}
    gen = torch.Generator().manual_seed(seed + 5)
    for _ in range(count):
        G, D = copy.deepcopy(oG), copy.deepcopy(oD)
        recorder.nudge_parameters(torch, (G, D), gen, recorder.FLOAT16_NUDGE)
        full, low = (official.gradients(torch, networks, G, D, data, p) for p in ("float32", precision))
        for net in ("G", "D"):
            for name, g in low[net].items():
                out[net].setdefault(name, []).append(official.relative(g, full[net][name]))
    return out


def beyond_bound(distance, official_max, strength, precision):
    """Keys whose `distance` is beyond tests/test_fp16_gradients.py's bound for `official_max`;
    the noise strengths (`strength[key]` true) by their median, reported as one key."""
    keys = [k for k in distance if not strength[k] and distance[k] > criterion.bound(official_max[k], precision)]
    names = [k for k in distance if strength[k]]
    if names and np.median([distance[k] for k in names]) > criterion.bound(
        np.median([official_max[k] for k in names]), precision
    ):
        keys.append("median of the noise strengths")
    return keys


def compare(args):
    settings = dict(recorder.DEFAULTS)
    for key in ("resolution", "z_dim", "w_dim", "channel_base", "channel_max", "num_fp16_res", "perturb", "seed"):
        settings[key] = getattr(args, key)
    settings.update(conv_clamp=args.conv_clamp or None, mbstd_group=args.mbstd_group, mapping_layers=2)
    torch, _, oG, oD, _, _, kwargs = recorder._build(settings, args.checkout)
    from training import networks

    from sg2tf.io import nvlabs_torch
    from sg2tf.training.replay import official_to_paths

    data = official.inputs(settings, batch=args.batch, seed=args.seed)
    theirs = {p: official.gradients(torch, networks, oG, oD, data, p) for p in ("float32", args.precision)}
    more = official_draws(torch, networks, oG, oD, data, args.precision, args.official_draws, args.seed)
    tensors = {
        n: {k: v.detach().float().numpy() for k, v in net.state_dict().items()} for n, net in (("G", oG), ("D", oD))
    }
    sG = nvlabs_torch.generator_from_tensors(kwargs["G"], tensors["G"], "G")
    sD = nvlabs_torch.discriminator_from_tensors(kwargs["D"], tensors["D"], "D")
    ours = {p: sg2tf_gradients(sG, sD, data, p) for p in ("float32", args.precision)}

    floor = criterion.bound(0.0, args.precision)
    rows, report = {}, {}
    for net, model in (("G", sG), ("D", sD)):
        names = list(theirs["float32"][net])
        # Official names to sg2tf paths, by the importer's own mapping.
        marks = {n: np.full(theirs["float32"][net][n].shape, i + 1.0) for i, n in enumerate(names)}
        to_path = {names[round(float(np.max(v))) - 1]: p for p, v in official_to_paths(model, marks, True).items()}
        for name in names:
            path = to_path[name]
            first = official.relative(theirs[args.precision][net][name], theirs["float32"][net][name])
            rows[f"{net}/{name}"] = dict(
                tensor_class=tensor_class(net, name),
                sg2tf=official.relative(ours[args.precision][net][path], ours["float32"][net][path]),
                official=first,
                official_draws=[first, *more[net].get(name, [])],
            )
    classes = sorted({r["tensor_class"] for r in rows.values()})
    print(f"{args.precision} against force_fp32, relative distance worst / median (n tensors), official: first draw:")
    print(f"{'class':28s} {'sg2tf':>22s} {'official':>22s}  beyond 1e-2 (sg2tf, official)")
    for c in classes:
        mine = [r for r in rows.values() if r["tensor_class"] == c]
        s, o = [r["sg2tf"] for r in mine], [r["official"] for r in mine]
        print(
            f"{c + f' ({len(mine)})':28s} {max(s):10.3g} / {np.median(s):9.3g} {max(o):10.3g} / {np.median(o):9.3g}"
            f"  {sum(v > 1e-2 for v in s)}, {sum(v > 1e-2 for v in o)}"
        )
        report[c] = dict(n=len(mine), sg2tf=[max(s), float(np.median(s))], official=[max(o), float(np.median(o))])
    strength = {k: "noise strengths" in r["tensor_class"] for k, r in rows.items()}
    sg2tf = {k: r["sg2tf"] for k, r in rows.items()}
    draws = {k: np.asarray(r["official_draws"]) for k, r in rows.items()}
    n = 1 + args.official_draws
    for upto in sorted({1, n}):
        beyond = beyond_bound(sg2tf, {k: float(v[:upto].max()) for k, v in draws.items()}, strength, args.precision)
        print(f"sg2tf beyond max({floor:g}, 2x the largest of {upto} official draws): {len(beyond)}")
        for k in beyond[:20]:
            r = rows.get(k)
            print(f"  {k}: sg2tf {r['sg2tf']:.3g}, official {draws[k][:upto].max():.3g}" if r else f"  {k}")
    held_out = []
    if n > 1:
        # The same rule for each official draw against the largest of the others.
        for i in range(n):
            own = {k: float(v[i]) for k, v in draws.items()}
            others = {k: float(np.delete(v, i).max()) for k, v in draws.items()}
            held_out.append(len(beyond_bound(own, others, strength, args.precision)))
        print(f"each official draw against the largest of the other {n - 1}: tensors beyond {held_out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(settings=vars(args), classes=report, tensors=rows, held_out=held_out), f, indent=1)
    return 1 if beyond else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", required=True, help="a stylegan2-ada-pytorch checkout")
    parser.add_argument("--precision", default="float16", choices=["float16", "bfloat16"])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--num_fp16_res", type=int, default=4)
    parser.add_argument("--conv_clamp", type=float, default=256)
    parser.add_argument("--channel_base", type=int, default=2048)
    parser.add_argument("--channel_max", type=int, default=64)
    parser.add_argument("--z_dim", type=int, default=64)
    parser.add_argument("--w_dim", type=int, default=64)
    parser.add_argument("--mbstd_group", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--perturb", type=float, default=0.0, help="0: the official initialisation as it is")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--official_draws", type=int, default=8, help="more official draws, from weights nudged by a float16 rounding"
    )
    parser.add_argument("--json", help="write every tensor's distances here")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.checkout, "training", "networks.py")):
        parser.error(f"--checkout={args.checkout}: not a stylegan2-ada-pytorch checkout (no training/networks.py)")
    sys.exit(compare(args))


if __name__ == "__main__":
    main()
