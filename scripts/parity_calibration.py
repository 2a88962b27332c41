"""How often the original itself fails the criteria of tests/test_training_parity.py.

Each official run that a recording holds per run is held out in turn and held to the criterion
sg2tf's replay meets, with the bound made from the other runs (`float32_bounds`,
`float16_bounds`):

* float32 cases: each nudged run on the recording's trajectory (`runs_on_trajectory`), its
  distances against SPREAD_FACTOR times the yardstick made without it;
* float16 cases: each official float16 draw (the recorded run, then each float16/float32 pair of
  `spread/fp16_pairs`) against FP16_FACTOR times the largest of the first `n` other draws plus
  SPREAD_FACTOR times the twin's yardstick; and sg2tf's replay (eager) against the first `n + 1`.

Prints how many quantities each held-out run has beyond its bound. No torch needed.
`SG2TF_PARITY_DATA` reads recordings from another folder than tests/data/training_reference.

Usage: python scripts/parity_calibration.py [case ...] [--n=8,16,32]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_training_parity as T  # noqa: E402

if os.environ.get("SG2TF_PARITY_DATA"):
    T.DATA = os.environ["SG2TF_PARITY_DATA"]


def beyond(bounds, distance):
    """How many quantities `distance` (`{key: norm}`) has beyond `bounds` (`(ref, scale, bound)`)."""
    return sum(1 for err, bound in T.relative_errors(*bounds, distance).values() if not err <= bound)


def calibrate_float32(name):
    meta, data = T.load_case(name)
    models = T.initial_models(meta, data)
    kept, bulk = T.runs_on_trajectory(meta, data, models)
    runs = T.per_run_spreads(meta, data, models, "nudge")
    counts = []
    for k in kept:
        bounds = T.float32_bounds(meta, data, models, leave_out=k)
        counts.append(beyond(bounds, {key: runs[k].get(key, 0.0) for key in bounds[0]}))
    left = [k for k in range(len(bulk)) if k not in kept]
    print(
        f"{name}: {len(kept)} of {len(bulk)} nudged runs on the trajectory (left: {left}, bulk "
        f"{[round(float(bulk[k])) for k in left]}; the others at most {max(bulk[kept]):.2g}); each held out "
        f"against the others: {sum(1 for c in counts if c)} beyond (quantities per run {counts}) of {len(runs[0])}"
    )


def calibrate_float16(name, sizes):
    meta, data, models, ours = T.replay_case(name, eager=True)
    ref32 = T.float16_bounds(meta, data, models)[0]
    draws = T.official_float16_draws(meta, data, models, ref32)
    sg2tf = {key: T.dist(ours[key], value) for key, value in ref32.items()}
    total = next(iter(draws.values())).size
    for n in sizes:
        if n + 1 > total:
            continue
        held_out = []
        for i in range(n + 1):
            bounds = T.float16_bounds(meta, data, models, leave_out=i, draws=n + 1)
            held_out.append(beyond(bounds, {key: v[i] for key, v in draws.items()}))
        ours_beyond = beyond(T.float16_bounds(meta, data, models, draws=n + 1), sg2tf)
        failing = sum(1 for c in held_out if c)
        print(
            f"{name}, n={n}: each official draw against the {n} others: {failing} of {n + 1} beyond "
            f"(quantities per draw {held_out}); sg2tf against {n + 1}: {ours_beyond} of {len(draws)}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="cases (default: all)")
    parser.add_argument("--n", default="8,16,32", help="float16: numbers of other draws to bound by")
    args = parser.parse_args()
    for name in args.cases or T.CASES:
        if name in T.FLOAT16_CASES:
            calibrate_float16(name, [int(v) for v in args.n.split(",")])
        else:
            calibrate_float32(name)


if __name__ == "__main__":
    main()
