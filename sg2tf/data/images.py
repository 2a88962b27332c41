"""Image files (a folder, or a stylegan2-ada-pytorch ZIP) as an `ImageSource`, validated first.

Every file is opened and fully decoded before anything is written, so one odd image fails the
run up front with its name, what is wrong, and the other offenders. Without options the
pixels go through untouched (`np.asarray(PIL.Image.open(f))`), as in the official tool;
`resize` and `convert_mode` are opt-in fixes.
"""

import concurrent.futures
import io
import json
import os
import posixpath
import zipfile
from collections import Counter

import numpy as np
import PIL.Image

from sg2tf.data import format as fmt
from sg2tf.data.errors import DatasetError
from sg2tf.data.writer import ImageSource
from sg2tf.utils.progress import Progress

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
RESIZE_MODES = ("center-crop", "pad")
CONVERT_MODES = ("RGB", "L")
RESIZE_FILTERS = {"lanczos": PIL.Image.LANCZOS, "box": PIL.Image.BOX, "bicubic": PIL.Image.BICUBIC}
MAX_LISTED = 20  # offenders listed in an error message

_NATIVE_MODES = ("L", "RGB")
_16BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class _Folder:
    def __init__(self, root):
        self.root = root
        names = []
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.lower().endswith(IMAGE_EXTENSIONS):
                    names.append(os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/"))
        self.names = sorted(names, key=lambda n: n.split("/"))  # as sorted(Path.rglob('*'))

    def read(self, name):
        with open(os.path.join(self.root, name), "rb") as f:
            return f.read()

    def where(self, name):
        return os.path.join(self.root, name)

    def metadata(self):
        path = os.path.join(self.root, "dataset.json")
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read()


class _Zip:
    def __init__(self, path):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as e:
            raise DatasetError(f"{path}: not a readable ZIP archive ({e})") from None
        self.names = sorted(n for n in self.zip.namelist() if n.lower().endswith(IMAGE_EXTENSIONS))

    def read(self, name):
        return self.zip.read(name)  # zipfile serializes reads of the shared handle

    def where(self, name):
        return f"{self.path}:{name}"

    def metadata(self):
        return self.zip.read("dataset.json") if "dataset.json" in self.zip.namelist() else None


def _open_files(source):
    if os.path.isdir(source):
        return _Folder(source)
    if os.path.isfile(source):
        return _Zip(source)
    raise DatasetError(f"{source}: no such file or directory")


def _load_metadata_labels(files):
    """Labels from a stylegan2-ada-pytorch `dataset.json`, in file order, or None."""
    raw = files.metadata()
    if raw is None:
        return None
    where = files.where("dataset.json")
    try:
        labels = json.loads(raw).get("labels")
    except (ValueError, AttributeError) as e:
        raise DatasetError(f"{where}: not a valid dataset.json ({e})") from None
    if labels is None:
        return None
    table = {str(entry[0]): entry[1] for entry in labels}
    missing = [n for n in files.names if n not in table]
    if missing:
        raise DatasetError(f"{where}: no label for {len(missing)} image(s): " + ", ".join(missing[:MAX_LISTED]))
    values = [table[n] for n in files.names]
    if all(isinstance(v, int) for v in values):  # class indices: one-hot, as the PyTorch loader does
        values = np.asarray(values, np.int64)
        if values.min() < 0:
            raise DatasetError(f"{where}: negative class index {values.min()}")
        onehot = np.zeros([len(values), int(values.max()) + 1], np.float32)
        onehot[np.arange(len(values)), values] = 1
        return onehot
    try:
        array = np.asarray(values, np.float32)
    except (ValueError, TypeError):
        array = None
    if array is None or array.ndim != 2:
        raise DatasetError(f"{where}: labels must be all class indices or all equal-length vectors")
    return array


def _inspect(files, name):
    """`(size, mode, problem)`: opens and fully decodes one file."""
    try:
        with PIL.Image.open(io.BytesIO(files.read(name))) as img:
            img.load()
            return img.size, img.mode, None
    except PIL.UnidentifiedImageError:
        return None, None, "not a readable image"
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt data
        return None, None, f"unreadable or truncated ({e})"


def _to_mode(img, mode):
    if img.mode in _16BIT_MODES:  # scale 16-bit to 8-bit rather than clip
        array = np.asarray(img).astype(np.float64)
        img = PIL.Image.fromarray(np.rint(array / 257.0).clip(0, 255).astype(np.uint8), "L")
    return img if img.mode == mode else img.convert(mode)


def _square(img, resize):
    w, h = img.size
    if w == h:
        return img
    if resize == "center-crop":
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        return img.crop((left, top, left + s, top + s))
    s = max(w, h)  # pad: centre on a black square
    canvas = PIL.Image.new(img.mode, (s, s))
    canvas.paste(img, ((s - w) // 2, (s - h) // 2))
    return canvas


def image_source(
    source, *, resize=None, resolution=None, convert_mode=None, resize_filter="lanczos", progress=True, num_threads=None
):
    """Validates the images of a folder (recursive) or ZIP and returns an `ImageSource`.

    Args:
      source: a directory (png/jpg/jpeg/webp/bmp files, searched recursively) or a ZIP archive
        in the stylegan2-ada-pytorch layout. A `dataset.json` with labels is honoured.
      resize: None (images must already be square, equal, power-of-two sized),
        "center-crop" or "pad" (make each image square, then scale to `resolution`).
      resolution: output size; default: the images' size, or with `resize` the largest power
        of two not above the smallest squared image.
      convert_mode: None (images must all be L or all RGB), "RGB" or "L": convert every image
        (palette, alpha (dropped), CMYK, 16-bit (scaled) ...).
    """
    if resize not in (None,) + RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if convert_mode not in (None,) + CONVERT_MODES:
        raise ValueError(f"convert_mode must be one of {CONVERT_MODES}, got {convert_mode!r}")
    files = _open_files(source)
    names = files.names
    if not names:
        raise DatasetError(f"{source}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    labels = _load_metadata_labels(files)

    num_threads = num_threads or min(8, os.cpu_count() or 1)
    with Progress(len(names), f"Checking {source}", enabled=progress) as bar:
        with concurrent.futures.ThreadPoolExecutor(num_threads) as pool:
            results = []
            for r in pool.map(lambda n: _inspect(files, n), names):
                results.append(r)
                bar.update()

    problems = [(n, p) for n, (_, _, p) in zip(names, results) if p]
    good = [(n, size, mode) for n, (size, mode, p) in zip(names, results) if not p]
    hints = set()

    # Modes.
    if convert_mode is None:
        for n, _, mode in good:
            if mode not in _NATIVE_MODES:
                problems.append((n, f"unsupported mode {mode} ({_describe_mode(mode)})"))
                hints.add("--convert_mode=RGB or L converts other modes")
        modes = Counter(mode for _, _, mode in good if mode in _NATIVE_MODES)
        if len(modes) > 1:
            main = modes.most_common(1)[0][0]
            for n, _, mode in good:
                if mode in _NATIVE_MODES and mode != main:
                    problems.append((n, f"mode {mode}, but most images are {main}"))
            hints.add("--convert_mode=RGB or L makes all images the same mode")
        channels = {"L": 1, "RGB": 3}[modes.most_common(1)[0][0]] if modes else 3
    else:
        channels = {"L": 1, "RGB": 3}[convert_mode]

    # Sizes.
    if resize is None:
        sizes = Counter(size for _, size, _ in good)
        main = sizes.most_common(1)[0][0] if sizes else None
        for n, size, _ in good:
            if size != main:
                problems.append((n, f"size {size[0]}x{size[1]}, but most images are {main[0]}x{main[1]}"))
                hints.add("--resize=center-crop or pad (with --resolution) resizes images")
        if main is not None and resolution is None:
            if main[0] != main[1]:
                problems.extend((n, f"size {size[0]}x{size[1]} is not square") for n, size, _ in good if size == main)
                hints.add("--resize=center-crop or pad makes images square")
            elif not fmt.is_power_of_two(main[0]) or main[0] < 4:
                problems.extend(
                    (n, f"size {size[0]}x{size[1]} is not a power of two >= 4") for n, size, _ in good if size == main
                )
                hints.add("--resolution (with --resize) scales images to a power of two")
        if main is not None and resolution is not None and main[0] != main[1]:
            problems.extend((n, f"size {size[0]}x{size[1]} is not square") for n, size, _ in good if size == main)
            hints.add("--resize=center-crop or pad makes images square")
        target = resolution or (main[0] if main else 0)
    else:
        sides = [min(size) if resize == "center-crop" else max(size) for _, size, _ in good]
        target = resolution or (1 << (min(sides).bit_length() - 1) if sides else 0)

    if problems:
        order = {n: i for i, n in enumerate(names)}
        problems.sort(key=lambda p: order[p[0]])
        lines = [f"  {files.where(n)}: {p}" for n, p in problems[:MAX_LISTED]]
        if len(problems) > MAX_LISTED:
            lines.append(f"  ... and {len(problems) - MAX_LISTED} more")
        hint = "".join(f"\n  hint: {h}" for h in sorted(hints))
        first = problems[0]
        raise DatasetError(
            f"{files.where(first[0])}: {first[1]}\n"
            f"{len(problems)} of {len(names)} images in {source} cannot be used; nothing was written:\n"
            + "\n".join(lines)
            + hint
        )
    if target < 4 or not fmt.is_power_of_two(target):
        raise DatasetError(f"resolution {target} is not a power of two >= 4")

    resample = RESIZE_FILTERS[resize_filter]

    def load(i):
        name = names[i]
        with PIL.Image.open(io.BytesIO(files.read(name))) as img:
            if convert_mode is not None:
                img = _to_mode(img, convert_mode)
            if resize is not None:
                img = _square(img, resize)
            if img.size != (target, target):
                img = img.resize((target, target), resample)
            array = np.asarray(img)
        if array.dtype != np.uint8:
            raise DatasetError(f"{files.where(name)}: decodes to {array.dtype}, expected 8-bit")
        return array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)

    return ImageSource(
        num_images=len(names),
        resolution=target,
        channels=channels,
        load=load,
        labels=labels,
        describe=lambda i: files.where(names[i]),
        names=list(names),
    )


def _describe_mode(mode):
    return {
        "P": "palette",
        "PA": "palette with alpha",
        "RGBA": "alpha channel",
        "LA": "alpha channel",
        "CMYK": "CMYK",
        "YCbCr": "YCbCr",
        "1": "1-bit",
        "F": "32-bit float",
        "I": "32-bit integer",
    }.get(mode, "16-bit" if mode.startswith("I;16") else "not L or RGB")


def archive_name(index):
    """The stylegan2-ada-pytorch file name of image `index`: `00000/img00000000.png`."""
    s = f"{index:08d}"
    return posixpath.join(s[:5], f"img{s}.png")
