"""Reference Freeze-D layers from the official stylegan2-ada-pytorch code.

Usage:
  python scripts/official_freeze_layers.py /path/to/stylegan2-ada-pytorch [--out tests/data/official_freeze_layers.json]

For D architectures `orig`, `skip` and `resnet` at 32 px, this builds the official
`Discriminator` with `block_kwargs.freeze_layers = N` (what its train.py sets for `--freezed=N`)
for every N from 0 until the frozen set stops growing, and records the names of the frozen
weights and biases (the official layers register a frozen weight as a buffer instead of a
parameter, so: D's parameters with N = 0 that are not parameters with N; names as in the
official module tree, e.g. `b32.fromrgb.weight`), plus the names of all of D's parameters. The
official code counts, per block from the top resolution: fromrgb (first block, or every block
with `skip`), conv0, conv1, then skip (`resnet`); its 4x4 epilogue is never frozen.

Needs torch (CPU is enough) and the official checkout. Nothing of the official code is copied.
"""

import argparse
import json
import os
import sys

from tf1_compat import git_commit

RESOLUTION = 32
ARCHITECTURES = ("orig", "skip", "resnet")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="a stylegan2-ada-pytorch checkout")
    parser.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "official_freeze_layers.json")
    )
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.checkout))
    from training import networks  # noqa: E402 (the official checkout)

    result = {
        "source": "stylegan2-ada-pytorch training.networks.Discriminator(block_kwargs.freeze_layers=N)",
        "script": "scripts/official_freeze_layers.py",
        "source_commit": git_commit(args.checkout),
        "resolution": RESOLUTION,
        "architectures": {},
    }
    for arch in ARCHITECTURES:
        entry = {"frozen": {}}
        n = 0
        while True:
            D = networks.Discriminator(
                c_dim=0,
                img_resolution=RESOLUTION,
                img_channels=3,
                architecture=arch,
                channel_base=256,
                channel_max=16,
                block_kwargs=dict(freeze_layers=n),
            )
            names = [name for name, p in D.named_parameters() if p.requires_grad]
            if n == 0:
                entry["parameters"] = names
            frozen = [name for name in entry["parameters"] if name not in names]
            entry["frozen"][str(n)] = frozen
            if n > 0 and frozen == entry["frozen"][str(n - 1)]:  # past the last block layer
                break
            n += 1
        result["architectures"][arch] = entry
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
