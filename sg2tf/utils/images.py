"""Image conversions and PNG writing shared by the programs."""

import numpy as np
from PIL import Image

from sg2tf.errors import FlagError
from sg2tf.utils import atomic


def to_uint8(images):
    """NHWC float images in [-1, 1] -> uint8, exactly as the official scripts do:
    `clip(x * 127.5 + 128, 0, 255)` then a truncating cast."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)


# PNG modes by channel count: gray, gray + alpha, RGB, RGBA (the last channel is the alpha).
PNG_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def save_png(path, image):
    """Writes one HWC uint8 image (C = 1, 2, 3 or 4: with alpha last) to `path`."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    if image.ndim != 3 or image.shape[-1] not in PNG_MODES:
        raise ValueError(f"expected an HWC image with 1 to 4 channels, got shape {image.shape}")
    mode = PNG_MODES[image.shape[-1]]
    Image.fromarray(image[:, :, 0] if mode == "L" else image, mode).save(path)


def parse_size(spec, flag="pad_to_square"):
    """`(width, height)` of a `WxH` string (`512x384`); FlagError naming `--flag` otherwise."""
    parts = str(spec).lower().split("x")
    try:
        width, height = (int(p) for p in parts)
    except ValueError:
        width = height = 0
    if width < 1 or height < 1:
        raise FlagError(f"--{flag}={spec}: expected WIDTHxHEIGHT in pixels, e.g. 512x384")
    return width, height


def crop_center(images, width, height):
    """The centered `height` x `width` window of NHWC (or HWC) images: the picture of a padded
    square image, as `create_lsun_wide` placed it (rows `(R - height) // 2` on), and the columns
    likewise. Raises ValueError when the window does not fit."""
    images = np.asarray(images)
    h, w = images.shape[-3], images.shape[-2]
    if not (0 < height <= h and 0 < width <= w):
        raise ValueError(f"cannot crop {width}x{height} out of {w}x{h} images")
    top, left = (h - height) // 2, (w - width) // 2
    return images[..., top : top + height, left : left + width, :]


def make_grid(images, cols=None):
    """Tiles NHWC uint8 images into one HWC image with `cols` columns."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    grid = np.zeros([rows * h, cols * w, c], dtype=images.dtype)
    for i in range(n):
        r, col = divmod(i, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = images[i]
    return grid


def atomic_save_png(path, image):
    """Writes a PNG via a temporary file and a rename (no half-written files)."""
    with atomic.atomic_file(path) as tmp:
        save_png(tmp, image)
