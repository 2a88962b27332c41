"""The embedded demo dataset: coloured shapes on a plain background.

One filled shape per image (circle, square, triangle or cross) at a random position, size and
colour, on a darker plain background. Drawn at 4x size and box-filtered down, so edges are
smooth at any resolution. Image `i` depends only on `(seed, i)`, so any subset, order or
thread count gives the same pixels. With labels, each image's one-hot class is its shape.
"""

import numpy as np
import PIL.Image
import PIL.ImageDraw

from sg2tf.data import format as fmt
from sg2tf.data.errors import DatasetError
from sg2tf.data.writer import ImageSource

SHAPES = ("circle", "square", "triangle", "cross")
_SUPERSAMPLE = 4


def _colour(rng, saturation, value):
    """An RGB colour from a random hue at the given saturation and value."""
    h = rng.uniform(0, 6)
    c = value * saturation
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return tuple(int(round((v + value - c) * 255)) for v in rgb)


def draw_shape(shape, resolution, rng):
    """One HWC uint8 RGB image of `shape` (an index into SHAPES)."""
    size = resolution * _SUPERSAMPLE
    background = _colour(rng, rng.uniform(0.0, 0.3), rng.uniform(0.1, 0.35))
    foreground = _colour(rng, rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0))
    radius = rng.uniform(0.18, 0.38) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    img = PIL.Image.new("RGB", (size, size), background)
    draw = PIL.ImageDraw.Draw(img)
    name = SHAPES[shape]
    if name == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=foreground)
    elif name == "square":
        h = radius * 0.8
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=foreground)
    elif name == "triangle":
        angle = rng.uniform(0, 2 * np.pi)
        points = [
            (cx + radius * np.cos(angle + k * 2 * np.pi / 3), cy + radius * np.sin(angle + k * 2 * np.pi / 3))
            for k in range(3)
        ]
        draw.polygon(points, fill=foreground)
    else:  # cross: two bars
        w = radius * 0.3
        draw.rectangle([cx - radius, cy - w, cx + radius, cy + w], fill=foreground)
        draw.rectangle([cx - w, cy - radius, cx + w, cy + radius], fill=foreground)
    return np.asarray(img.resize((resolution, resolution), PIL.Image.BOX))


def synthetic_source(num_images, resolution=32, seed=0, labels=False):
    """An `ImageSource` of `num_images` shape images; one-hot shape labels if `labels`."""
    if num_images < 1:
        raise DatasetError(f"num_images must be >= 1, got {num_images}")
    if resolution < 4 or not fmt.is_power_of_two(resolution):
        raise DatasetError(f"resolution must be a power of two >= 4, got {resolution}")
    classes = np.random.default_rng([seed, 0x5EED]).integers(len(SHAPES), size=num_images)

    def load(i):
        rng = np.random.default_rng([seed, i])
        return draw_shape(int(classes[i]), resolution, rng).transpose(2, 0, 1)

    onehot = np.eye(len(SHAPES), dtype=np.float32)[classes] if labels else None
    return ImageSource(
        num_images=num_images,
        resolution=resolution,
        channels=3,
        load=load,
        labels=onehot,
        describe=lambda i: f"synthetic image {i}",
    )
