"""Channel counts per resolution: the original `nf(stage)` formula or an explicit table."""

import math

import numpy as np


def parse_channel_table(spec):
    """Parses `'64:768,128:768,256:384'` (or a dict) into `{resolution: channels}`."""
    if spec is None or spec == "":
        return {}
    if isinstance(spec, dict):
        items = spec.items()
    else:
        items = []
        for part in str(spec).split(","):
            if ":" not in part:
                raise ValueError(f"bad channel table entry {part!r}; expected RES:CHANNELS")
            res, ch = part.split(":", 1)
            items.append((res, ch))
    table = {}
    for res, ch in items:
        res, ch = int(res), int(ch)
        if res < 2 or res & (res - 1) or ch < 1:
            raise ValueError(f"bad channel table entry {res}:{ch}; resolution must be a power of two and channels >= 1")
        table[res] = ch
    return table


class ChannelSpec:
    """Channels at each resolution.

    `channels(res)` is `nf(log2(res) - 1)` of the original code,
    `clip(int(fmap_base / 2 ** (stage * fmap_decay)), fmap_min, fmap_max)`, unless the
    table names `res`. `channels(2)` is the width of the discriminator's last dense
    layer (`nf(0)`).
    """

    def __init__(self, fmap_base=16384, fmap_decay=1.0, fmap_min=1, fmap_max=512, table=None):
        self.fmap_base = int(fmap_base)
        self.fmap_decay = float(fmap_decay)
        self.fmap_min = int(fmap_min)
        self.fmap_max = int(fmap_max)
        self.table = parse_channel_table(table)

    def nf(self, stage):
        return int(np.clip(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_min, self.fmap_max))

    def __call__(self, res):
        if res in self.table:
            return self.table[res]
        return self.nf(int(math.log2(res)) - 1)

    def get_config(self):
        return {
            "fmap_base": self.fmap_base,
            "fmap_decay": self.fmap_decay,
            "fmap_min": self.fmap_min,
            "fmap_max": self.fmap_max,
            "table": {str(k): v for k, v in sorted(self.table.items())},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config or {})
        if isinstance(config.get("table"), dict):
            config["table"] = {int(k): int(v) for k, v in config["table"].items()}
        return cls(**config)


def log2_resolution(resolution):
    """Checks that `resolution` is a power of two >= 4 and returns its log2."""
    log2 = int(round(math.log2(resolution))) if resolution > 0 else -1
    if resolution < 4 or 2**log2 != resolution:
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return log2
