"""How often the original itself fails the float16 twin criterion of tests/test_training_parity.py.

Each official float16 draw of a recording (the recorded run, then each float16/float32 pair of
`spread/fp16_pairs`) is held out in turn and held to the criterion with the bound made from the
first `n` other draws: at most FP16_FACTOR times the largest official distance to the float32
twin plus SPREAD_FACTOR times the twin's yardstick. Prints, per `n`, how many quantities each
held-out draw has beyond its bound, and sg2tf's replay (eager) against the first `n + 1` draws.
No torch needed.

Usage: python scripts/fp16_criterion_calibration.py [case ...] [--n=8,16,32]
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import test_training_parity as T  # noqa: E402


def beyond(distance, draws, scale, yardstick):
    """How many quantities have `distance[key]` beyond the criterion's bound from `draws[key]`."""
    return sum(
        1
        for key, v in draws.items()
        if scale[key] > 0
        and distance[key] / scale[key] > T.FP16_FACTOR * np.nanmax(v) / scale[key] + T.SPREAD_FACTOR * yardstick[key]
    )


def calibrate(name, sizes):
    meta, data, models, ours = T.replay_case(name, eager=True)
    twin_meta, twin_data = T.load_case(meta["twin"])
    ref32 = T.official_quantities(twin_meta, twin_data, models, meta["spec"]["iterations"])
    scale, yardstick = T.scales(ref32), T.yardsticks(twin_meta, twin_data, models, ref32)
    draws = T.official_float16_draws(meta, data, models, ref32)
    sg2tf = {key: T.dist(ours[key], value) for key, value in ref32.items()}
    total = next(iter(draws.values())).size
    for n in sizes:
        if n + 1 > total:
            continue
        held_out = []
        for i in range(n + 1):
            distance = {key: v[i] for key, v in draws.items()}
            others = {key: np.delete(v[: n + 1], i) for key, v in draws.items()}
            held_out.append(beyond(distance, others, scale, yardstick))
        ours_beyond = beyond(sg2tf, {key: v[: n + 1] for key, v in draws.items()}, scale, yardstick)
        failing = sum(1 for c in held_out if c)
        print(
            f"{name}, n={n}: each official draw against the {n} others: {failing} of {n + 1} beyond "
            f"(quantities per draw {held_out}); sg2tf against {n + 1}: {ours_beyond} of {len(draws)}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="float16 cases (default: all)")
    parser.add_argument("--n", default="8,16,32", help="numbers of other draws to bound by")
    args = parser.parse_args()
    sizes = [int(v) for v in args.n.split(",")]
    for name in args.cases or T.FLOAT16_CASES:
        calibrate(name, sizes)


if __name__ == "__main__":
    main()
