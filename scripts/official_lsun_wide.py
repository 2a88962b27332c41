"""Regenerates tests/data/lsun_wide with NVlabs StyleGAN2's own `dataset_tool.py create_lsun_wide`.

The LSUN Car route of the original (512x384 pictures padded into 512x512 records), at a small
size: `--width=16 --height=12`. Writes a few synthetic non-square RGB images (smooth gradients
with noise, fixed seed) to `source/*.png`, puts them into a temporary LSUN-style LMDB (keys in
file-name order, values the PNG bytes; needs `pip install lmdb`), runs the checkout's
`create_lsun_wide` on it under TensorFlow 2's `tf.compat.v1` (scripts/tf1_compat.py) and keeps
its records in `official/` with `made-by.json` (repository, commit, command, what it skipped).

Three things of 2020 that today's libraries lack are bridged while loading, the file unchanged:
numpy 2 removed the binary mode of `np.fromstring` (the same bytes as `np.frombuffer`) and
`ndarray.tostring` (`tobytes`); Pillow 10 removed `Image.ANTIALIAS` (an alias of `LANCZOS`). OpenCV
is not installed: a stand-in `cv2` whose `imdecode` returns None makes the function take its
own fallback, `np.asarray(PIL.Image.open(...))`, which for these lossless RGB PNGs gives the
pixels cv2 would (after its BGR -> RGB flip).

Usage:
  python scripts/official_lsun_wide.py --stylegan2=/path/to/stylegan2 --check
  python scripts/official_lsun_wide.py --stylegan2=/path/to/stylegan2 --out=tests/data/lsun_wide
"""

import os
import sys
import tempfile
import types

import numpy as np
from tf1_compat import dataset_script_main, git_commit, import_tf1

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "lsun_wide")
WIDTH, HEIGHT = 16, 12
# (width, height) of the source images: exact 16x12; taller (rows cut); wider than 16 (the
# original cuts round(16*h/w) rows, then narrows); portrait; and two it skips (too narrow, too flat).
SIZES = [(16, 12), (20, 15), (24, 20), (16, 16), (40, 30), (17, 13), (12, 9), (32, 16)]


def source_images():
    """`{name: HxWx3 uint8}`: gradients plus noise, so that cropping and scaling show."""
    rng = np.random.RandomState(2026)
    out = {}
    for i, (w, h) in enumerate(SIZES):
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.stack([255 * x / (w - 1), 255 * y / (h - 1), 128 + 100 * np.sin((x + 2 * y) / 3)], -1)
        img = np.clip(base + rng.uniform(-40, 40, base.shape), 0, 255).astype(np.uint8)
        out[f"img{i:02d}_{w}x{h}.png"] = img
    return out


def write_sources(folder):
    import PIL.Image

    os.makedirs(folder, exist_ok=True)
    for name, img in source_images().items():
        PIL.Image.fromarray(img, "RGB").save(os.path.join(folder, name))


def _dataset_tool(checkout):
    path = os.path.join(checkout, "dataset_tool.py")
    with open(path, encoding="utf-8-sig") as f:
        source = f.read().replace(".tostring()", ".tobytes()").replace("np.fromstring(", "np.frombuffer(")
    module = types.ModuleType("dataset_tool")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def make(checkout, out):
    import lmdb
    import PIL.Image

    write_sources(os.path.join(out, "source"))
    import_tf1(checkout)
    if not hasattr(PIL.Image, "ANTIALIAS"):
        PIL.Image.ANTIALIAS = PIL.Image.LANCZOS
    stub = types.ModuleType("cv2")
    stub.imdecode = lambda buf, flags: None
    sys.modules["cv2"] = stub
    dataset_tool = _dataset_tool(checkout)
    names = sorted(os.listdir(os.path.join(out, "source")))
    with tempfile.TemporaryDirectory() as tmp:
        env = lmdb.open(os.path.join(tmp, "lmdb"), map_size=1 << 24)
        with env.begin(write=True) as txn:
            for name in names:
                with open(os.path.join(out, "source", name), "rb") as f:
                    txn.put(name.encode(), f.read())
        env.close()
        dataset_tool.create_lsun_wide(os.path.join(out, "official"), os.path.join(tmp, "lmdb"), WIDTH, HEIGHT)
    kept = [n for n, (w, h) in zip(names, [SIZES[int(n[3:5])] for n in names]) if _kept(w, h)]
    return {
        "made_by": "scripts/official_lsun_wide.py",
        "repository": "NVlabs/stylegan2",
        "commit": git_commit(checkout),
        "command": f"dataset_tool.py create_lsun_wide official LMDB --width {WIDTH} --height {HEIGHT}",
        "lmdb": "keys the source file names (sorted), values their PNG bytes",
        "records": kept,
        "skipped_by_the_original": [n for n in names if n not in kept],
    }


def _kept(w, h):
    return w >= WIDTH and int(np.round(WIDTH * h / w)) >= HEIGHT


def main():
    dataset_script_main(__doc__, make, DATA, ("source", "official"), "made-by.json")


if __name__ == "__main__":
    main()
