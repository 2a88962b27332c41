"""Image conversions and PNG writing shared by the programs."""

import numpy as np
from PIL import Image

from sg2tf.utils import atomic


def to_uint8(images):
    """NHWC float images in [-1, 1] -> uint8, exactly as the official scripts do:
    `clip(x * 127.5 + 128, 0, 255)` then a truncating cast."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(images * 127.5 + 128, 0, 255).astype(np.uint8)


def save_png(path, image):
    """Writes one HWC uint8 image (C = 1 or 3) to `path`."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[:, :, 0]
    Image.fromarray(image, "L" if image.ndim == 2 else "RGB").save(path)


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
