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


# --- Non-square networks -----------------------------------------------------------------
# A network's lowest block computes at `base_shape` [h0, w0] ([4, 4] for the square networks
# of the originals) and every later block doubles both sides, so the block of "resolution"
# r = 4 * 2^k (its name, b4 ... bR, and its channels) is [h0 * r / 4, w0 * r / 4] and the
# image [h0 * R / 4, w0 * R / 4]. The canonical base of an aspect ratio is the ratio in lowest
# terms times the smallest power of two that makes its longer side at least 4: 1:1 -> [4, 4],
# W:H = 4:3 -> [3, 4] (512x384 is R = 512), 2:1 -> [2, 4], 16:9 -> [9, 16].

SQUARE_BASE = (4, 4)


def check_base_shape(base_shape, where="base_shape"):
    """`base_shape` as a tuple `(h0, w0)` of positive ints (None: the square `(4, 4)`)."""
    if base_shape is None:
        return SQUARE_BASE
    try:
        h0, w0 = (int(v) for v in base_shape)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be [height, width], got {base_shape!r}") from None
    if h0 < 1 or w0 < 1 or [h0, w0] != [float(v) for v in base_shape]:
        raise ValueError(f"{where} must be two positive integers [height, width], got {base_shape!r}")
    return h0, w0


def canonical_base(height, width):
    """The canonical base shape `(h0, w0)` of the aspect ratio height:width (see above)."""
    g = math.gcd(int(height), int(width))
    h0, w0 = int(height) // g, int(width) // g
    while max(h0, w0) < 4:
        h0, w0 = h0 * 2, w0 * 2
    return h0, w0


def parse_aspect(aspect):
    """The canonical base shape of an aspect ratio `'W:H'` (width first, as in '4:3' for
    512x384), or of `[W, H]`."""
    parts = str(aspect).split(":") if isinstance(aspect, str) else list(aspect)
    try:
        w, h = (int(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"aspect must be W:H (two positive integers, e.g. 4:3), got {aspect!r}") from None
    if w < 1 or h < 1:
        raise ValueError(f"aspect must be W:H (two positive integers, e.g. 4:3), got {aspect!r}")
    return canonical_base(h, w)


def block_shape(resolution, base_shape=None):
    """`(height, width)` of the block of `resolution` (a power of two >= 4) over `base_shape`."""
    log2_resolution(resolution)
    h0, w0 = check_base_shape(base_shape)
    return h0 * int(resolution) // 4, w0 * int(resolution) // 4


def split_image_shape(height, width):
    """`(base_shape, resolution)` of an image `height x width`: the canonical base of its
    aspect ratio and the power of two R >= 4 with `block_shape(R, base) == (height, width)`.
    Raises ValueError when there is none (e.g. 48x48: 48 is no power of two)."""
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise ValueError(f"image size {width}x{height} (WxH) is empty")
    base = canonical_base(height, width)
    resolution = 4 * height // base[0]
    if resolution < 4 or resolution & (resolution - 1) or block_shape(resolution, base) != (height, width):
        raise ValueError(
            f"image size {width}x{height} (WxH) is not [{base[1]}x{base[0]}] doubled a whole number of times: "
            f"a network's side lengths are its base shape times a power of two"
        )
    return base, resolution


def is_square(base_shape):
    return check_base_shape(base_shape) == SQUARE_BASE
