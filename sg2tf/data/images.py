"""Image files (a folder, or a stylegan2-ada-pytorch ZIP) as an `ImageSource`, validated first.

Every file is opened and fully decoded before anything is written, so one odd image fails the
run up front with its name, what is wrong, and the other offenders (or, with `skip_bad`, is left
out and listed). Without options the
pixels go through untouched (`np.asarray(PIL.Image.open(f))`), as in the official tool;
`resize` and `convert_mode` are opt-in fixes, `keep_alpha` keeps transparency (2- and 4-channel
records) and `pad_to_square` places non-square pictures in a square as the official
`create_lsun_wide` does (LSUN Car).
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
from sg2tf.errors import FlagError
from sg2tf.utils.progress import Progress

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
RESIZE_MODES = ("center-crop", "pad")
CONVERT_MODES = ("RGB", "L")
PAD_RULES = ("lsun_wide", "keep_aspect")
RESIZE_FILTERS = {"lanczos": PIL.Image.LANCZOS, "box": PIL.Image.BOX, "bicubic": PIL.Image.BICUBIC}
MAX_LISTED = 20  # offenders listed in an error message

_NATIVE_MODES = ("L", "RGB")
_ALPHA_MODES = ("LA", "RGBA")  # kept as they are with keep_alpha
_CHANNELS = {mode: channels for channels, mode in fmt.PIL_MODES.items()}  # the record format's modes
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


class _Problems:
    """What is wrong with which file: counted per file and per kind, each hint said once."""

    def __init__(self):
        self.by_file, self.kinds, self.hints = {}, Counter(), {}

    def add(self, name, kind, detail, hint=None):
        self.by_file.setdefault(name, []).append(detail)
        self.kinds[kind] += 1
        if hint:
            self.hints[hint] = None

    def summary(self):
        return ", ".join(f"{n} {kind}" for kind, n in self.kinds.most_common())


_TRUNCATED_HINT = "truncated files (an interrupted download or copy?): copy them again, or --skip_bad leaves them out"
_NOT_IMAGE_HINT = (
    "files that are not images (empty, damaged, or another format under an image name): --skip_bad leaves them out"
)
_MODE_HINT = "--convert_mode=RGB (or L) converts every image (alpha dropped, palette, CMYK, 16-bit scaled)"
_ALPHA_HINT = "--keep_alpha keeps the transparency instead (RGBA: 4-channel, LA: 2-channel records)"
_KEEP_ALPHA_MODE_HINT = (
    "--keep_alpha --convert_mode=RGB (or L) makes every image RGBA (or LA), opaque where it had no alpha"
)
_NONSQUARE_HINT = (
    "--allow_nonsquare takes one size for all images, its sides a base shape (e.g. 4x3) doubled a whole number "
    "of times: 64x48, 512x384; --pad_to_square or --resize make them square instead"
)
_SIZE_HINT = "--resolution=R scales square images to RxR; --resize=center-crop or pad also makes the others square"


def check_pad_to_square(width, height, flag="pad_to_square"):
    """The square canvas `create_lsun_wide` takes: the width a power of two >= 4, the height at most
    the width (stylegan2 dataset_tool.py create_lsun_wide asserts both)."""
    if width < 4 or not fmt.is_power_of_two(width):
        raise FlagError(f"--{flag}={width}x{height}: the width is the square's side, a power of two >= 4")
    if height > width:
        raise FlagError(f"--{flag}={width}x{height}: the height must not exceed the width (landscape pictures)")


def image_source(
    source,
    *,
    resize=None,
    resolution=None,
    convert_mode=None,
    keep_alpha=False,
    pad_to_square=None,
    pad_rule="lsun_wide",
    allow_nonsquare=False,
    resize_filter="lanczos",
    skip_bad=False,
    progress=True,
    num_threads=None,
):
    """Validates the images of a folder (recursive) or ZIP and returns an `ImageSource`.

    Args:
      source: a directory (png/jpg/jpeg/webp/bmp files, searched recursively) or a ZIP archive
        in the stylegan2-ada-pytorch layout. A `dataset.json` with labels is honoured.
      resize: None (images must be square), "center-crop" or "pad" (make each image square).
      resolution: output size: every image is scaled to it, as stylegan2-ada-pytorch's
        dataset_tool.py scales to `--width`/`--height`. Default: without `resize` the images'
        own size (all the same, a power of two); with `resize` the largest power of two not
        above the median squared side (never the smallest image's: one thumbnail does not
        shrink the dataset).
      convert_mode: None (images must all be L or all RGB), "RGB" or "L": convert every image
        (palette, alpha (dropped), CMYK, 16-bit (scaled) ...).
      keep_alpha: keep transparency: RGBA images give 4-channel records, LA 2-channel ones
        (all images must then have the same mode); with `convert_mode` every image is converted
        to RGBA (or LA), opaque where it has no alpha.
      pad_to_square: `(W, H)`: the official `create_lsun_wide` layout (LSUN Car, 512x384): each
        image keeps its `round(W * h / w)` central rows, is scaled to W x H and placed in the
        middle rows of a black W x W square; images narrower than W or with fewer than H such
        rows cannot be used. Not with `resize` or `resolution`.
      pad_rule: "lsun_wide" (the rows as above: the records of the original) or "keep_aspect"
        (the central `round(H * w / W)` rows: each picture keeps its aspect ratio).
      allow_nonsquare: images of one non-square size (64x48: a network over base shape 3x4, see
        `sg2tf.data.format.split_shape`) are written as they are, for sg2tf's rectangular
        networks; another size, or one no network makes, is named. Not with the options above.
      skip_bad: leave out the files that cannot be used (listed in the source's `notes`)
        instead of refusing them all.

    The returned source's `notes` state every decision taken: the resolution and why, how
    many images were scaled up or down, converted or cropped, and what was skipped.
    """
    if resize not in (None,) + RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    if convert_mode not in (None,) + CONVERT_MODES:
        raise ValueError(f"convert_mode must be one of {CONVERT_MODES}, got {convert_mode!r}")
    if pad_rule not in PAD_RULES:
        raise ValueError(f"pad_rule must be one of {PAD_RULES}, got {pad_rule!r}")
    if pad_to_square is not None:
        if resize is not None or resolution:
            raise FlagError("--pad_to_square sets the size itself: give it without --resize and --resolution")
        pad_w, pad_h = pad_to_square
        check_pad_to_square(pad_w, pad_h)
    if allow_nonsquare and (resize is not None or resolution or pad_to_square is not None):
        raise FlagError("--allow_nonsquare keeps each image's size: not with --resize, --resolution, --pad_to_square")
    to_mode = None if convert_mode is None else convert_mode + ("A" if keep_alpha else "")
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

    problems = _Problems()
    for n, (_, _, p) in zip(names, results):
        if p == "not a readable image":
            problems.add(n, "not readable", p, _NOT_IMAGE_HINT)
        elif p:
            truncated = "truncated" in p
            problems.add(n, "truncated" if truncated else "damaged", p, _TRUNCATED_HINT if truncated else None)
    good = [(n, size, mode) for n, (size, mode, p) in zip(names, results) if not p]
    channels = _check_modes(good, to_mode, keep_alpha, problems)
    image_shape = None
    if pad_to_square is not None:
        target, decision = _check_pad(good, pad_w, pad_h, pad_rule, problems)
    elif allow_nonsquare and any(w != h for _, (w, h), _ in good):
        target, image_shape, decision = _check_own_shape(good, problems)
    else:
        target, decision = _check_sizes(good, resize, resolution, problems)

    notes = []
    if problems.by_file:
        order = {n: i for i, n in enumerate(names)}
        bad = sorted(problems.by_file, key=order.get)
        lines = [f"  {files.where(n)}: {'; '.join(problems.by_file[n])}" for n in bad]
        what = f"{len(bad)} of {len(names)} images in {source} cannot be used ({problems.summary()})"
        if not skip_bad or len(bad) == len(names):
            if len(lines) > MAX_LISTED:
                lines = lines[:MAX_LISTED] + [f"  ... and {len(lines) - MAX_LISTED} more"]
            hints = list(problems.hints) + ([] if skip_bad else ["--skip_bad writes the other images"])
            raise DatasetError(
                f"{files.where(bad[0])}: {problems.by_file[bad[0]][0]}\n{what}; nothing was written:\n"
                + "\n".join(lines)
                + "".join(f"\n  hint: {h}" for h in hints)
            )
        notes += [f"--skip_bad: left out {what.replace('cannot be used', 'that cannot be used')}:"] + lines
        keep = [i for i, n in enumerate(names) if n not in problems.by_file]
        names = [names[i] for i in keep]
        labels = None if labels is None else labels[keep]
        good = [g for g in good if g[0] not in problems.by_file]
    if target < 4 or not fmt.is_power_of_two(target):
        raise DatasetError(f"resolution {target} is not a power of two >= 4")
    notes.append(decision)
    notes += _scaling_notes(good, resize, to_mode, target, pad_to_square, image_shape, pad_rule)

    resample = RESIZE_FILTERS[resize_filter]

    def load(i):
        name = names[i]
        with PIL.Image.open(io.BytesIO(files.read(name))) as img:
            if to_mode is not None:
                img = _to_mode(img, to_mode)
            if pad_to_square is not None:
                img = _padded_picture(img, pad_w, pad_h, resample, pad_rule)
            elif image_shape is None:
                if resize is not None:
                    img = _square(img, resize)
                if img.size != (target, target):
                    img = img.resize((target, target), resample)
            array = np.asarray(img)
        if array.dtype != np.uint8:
            raise DatasetError(f"{files.where(name)}: decodes to {array.dtype}, expected 8-bit")
        chw = array[np.newaxis] if array.ndim == 2 else array.transpose(2, 0, 1)
        if pad_to_square is None:
            return chw
        canvas = np.zeros([chw.shape[0], pad_w, pad_w], np.uint8)  # black (and transparent) bars
        top = (pad_w - pad_h) // 2
        canvas[:, top : top + pad_h] = chw
        return canvas

    return ImageSource(
        num_images=len(names),
        resolution=target,
        channels=channels,
        load=load,
        labels=labels,
        describe=lambda i: files.where(names[i]),
        names=list(names),
        notes=notes,
        image_shape=image_shape,
    )


def _check_modes(good, to_mode, keep_alpha, problems):
    """The channel count; files of another mode, or of another channel count than the others,
    are problems unless `to_mode` (the mode every image is converted to) is given."""
    if to_mode is not None:
        return _CHANNELS[to_mode]
    native = _NATIVE_MODES + (_ALPHA_MODES if keep_alpha else ())
    for n, _, mode in good:
        if mode not in native:
            kind = _describe_mode(mode)
            detail = f"unsupported mode {mode}" + (f" ({kind})" if kind != mode else "")
            problems.add(n, f"mode {mode}", detail, _KEEP_ALPHA_MODE_HINT if keep_alpha else _MODE_HINT)
            if not keep_alpha and mode in _ALPHA_MODES + ("PA",):
                problems.hints[_ALPHA_HINT] = None
    modes = Counter(mode for _, _, mode in good if mode in native)
    if len(modes) > 1:
        main, count = modes.most_common(1)[0]
        hint = _KEEP_ALPHA_MODE_HINT if keep_alpha else _MODE_HINT
        for n, _, mode in good:
            if mode in native and mode != main:
                problems.add(n, f"mode {mode}", f"mode {mode}, but {count} of {len(good)} images are {main}", hint)
    return _CHANNELS[modes.most_common(1)[0][0]] if modes else 3


def _pad_rows(w, h, width, height, rule="lsun_wide"):
    """`(top, bottom, usable)`: the central rows a w x h image keeps for a `width` x `height` picture.

    "lsun_wide" (`create_lsun_wide`): `round(width * h / w)` rows, computed in the target's pixels,
    so an image wider than `width` loses rows as well as being narrowed (its aspect ratio changes);
    usable with `w >= width` and at least `height` such rows. "keep_aspect": the `round(height * w /
    width)` rows that have the picture's aspect ratio; usable with `w >= width` and that many rows.
    """
    rows = int(np.round(width * h / w)) if rule == "lsun_wide" else int(np.round(height * w / width))
    usable = w >= width and (rows >= height if rule == "lsun_wide" else rows <= h)
    return (h - rows) // 2, (h + rows) // 2, usable


def _padded_picture(img, width, height, resample, rule):
    """One image's picture for `pad_to_square`: its central rows, scaled to width x height."""
    top, bottom, _ = _pad_rows(img.size[0], img.size[1], width, height, rule)
    img = img.crop((0, top, img.size[0], bottom))
    return img.resize((width, height), resample)


def _check_own_shape(good, problems):
    """`(resolution, (H, W), why)` of images kept at their own non-square size: every image the
    most common size (mixed sizes or aspect ratios are problems), one a network makes."""
    sizes = Counter(size for _, size, _ in good)
    (w, h), count = sizes.most_common(1)[0]
    where = "most images are" if count * 2 > len(good) else "the most common size is"
    for n, size, _ in good:
        if size != (w, h):
            detail = f"size {size[0]}x{size[1]}, but {where} {w}x{h} ({count} of {len(good)})"
            problems.add(n, "other size", detail, _NONSQUARE_HINT)
    try:
        base, resolution = fmt.split_shape(h, w)
    except DatasetError as e:
        for n, size, _ in good:
            if size == (w, h):
                problems.add(n, "size no network makes", f"{e}".replace("image: ", ""), _NONSQUARE_HINT)
        return 0, None, ""
    return (
        resolution,
        (h, w),
        (
            f"size {w}x{h} (WxH): the images' own, non-square (--allow_nonsquare): a network of resolution "
            f"{resolution} over base shape {base[1]}x{base[0]} (WxH) makes it"
        ),
    )


def _check_pad(good, width, height, rule, problems):
    """`(resolution, why)` for `pad_to_square`; images `create_lsun_wide` would skip are problems."""
    hint = (
        f"--pad_to_square={width}x{height} takes images at least {width} px wide whose height is at least "
        f"{height}/{width} of their width; --skip_bad leaves the others out, as create_lsun_wide does"
    )
    for n, (w, h), _ in good:
        if not _pad_rows(w, h, width, height, rule)[2]:
            detail = f"size {w}x{h} is too small for {width}x{height} pictures"
            problems.add(n, "too small", detail, hint)
    top = (width - height) // 2
    how = "create_lsun_wide's layout" if rule == "lsun_wide" else "--pad_rule=keep_aspect"
    return width, (
        f"resolution {width}x{width}: --pad_to_square={width}x{height}, pictures {width}x{height} in rows "
        f"{top}..{top + height - 1} between black bars ({how})"
    )


def _check_sizes(good, resize, resolution, problems):
    """`(resolution, why)`; files whose size cannot be used as asked are problems."""
    if resize is not None:
        sides = sorted(min(size) if resize == "center-crop" else max(size) for _, size, _ in good)
        if resolution:
            return resolution, f"resolution {resolution}x{resolution}: --resolution (every image is scaled to it)"
        if not sides:
            return 0, ""
        median = sides[(len(sides) - 1) // 2]
        target = 1 << (median.bit_length() - 1)
        return target, (
            f"resolution {target}x{target}: the largest power of two not above the median squared side "
            f"({median} px, {resize}) of {len(sides)} images; --resolution=R chooses another"
        )
    for n, (w, h), _ in good:
        if w != h:
            problems.add(
                n, "not square", f"size {w}x{h} is not square", "--resize=center-crop or pad makes images square"
            )
    square = [(n, size) for n, size, _ in good if size[0] == size[1]]
    if resolution:
        return resolution, f"resolution {resolution}x{resolution}: --resolution (every image is scaled to it)"
    sizes = Counter(size for _, size in square)
    if not sizes:
        return 0, ""
    main, count = sizes.most_common(1)[0]
    for n, size in square:
        if size != main:
            where = "most images are" if count * 2 > len(good) else "the most common size is"
            detail = f"size {size[0]}x{size[1]}, but {where} {main[0]}x{main[1]} ({count} of {len(good)})"
            problems.add(n, "other size", detail, _SIZE_HINT)
    if not fmt.is_power_of_two(main[0]) or main[0] < 4:
        for n, size in square:
            if size == main:
                problems.add(
                    n, "size not a power of two", f"size {size[0]}x{size[1]} is not a power of two >= 4", _SIZE_HINT
                )
    return main[0], f"resolution {main[0]}x{main[0]}: the images' own size"


def _scaling_notes(good, resize, convert_mode, target, pad_to_square=None, image_shape=None, pad_rule="lsun_wide"):
    """Lines saying how many images are converted, made square, scaled down and up (with the
    smallest of those scaled up, by name)."""
    notes = []
    if convert_mode is not None:
        converted = Counter(mode for _, _, mode in good if mode != convert_mode)
        if converted:
            kinds = ", ".join(f"{n} {mode}" for mode, n in converted.most_common())
            notes.append(f"converted {sum(converted.values())} images to {convert_mode} ({kinds})")
    if image_shape is not None:
        return notes + [f"all {len(good)} images are {image_shape[1]}x{image_shape[0]}: none scaled"]
    if pad_to_square is not None:
        width, height = pad_to_square
        kept = [_pad_rows(w, h, width, height, pad_rule) for _, (w, h), _ in good]
        scaled = sum(1 for (_, (w, _), _), (top, bottom, _) in zip(good, kept) if (w, bottom - top) != (width, height))
        cropped = sum(1 for (_, (_, h), _), (top, bottom, _) in zip(good, kept) if bottom - top != h)
        return notes + [
            f"placed {len(good)} pictures in {width}x{width} squares: {cropped} cut to their central rows, "
            f"{scaled} scaled to {width}x{height}"
        ]
    sides = {}
    for n, (w, h), _ in good:
        if w != h and resize is not None:
            sides[n] = min(w, h) if resize == "center-crop" else max(w, h)
        else:
            sides[n] = w
    if resize is not None:
        non_square = sum(1 for _, (w, h), _ in good if w != h)
        if non_square:
            notes.append(f"made {non_square} non-square images square ({resize})")
    down = sum(1 for s in sides.values() if s > target)
    up = sorted((s, n) for n, s in sides.items() if s < target)
    if not down and not up:
        return notes + [f"all {len(sides)} images are {target}x{target}: none scaled"]
    kept = len(sides) - down - len(up)
    line = f"scaled {down} images down to {target}x{target} and {len(up)} up; {kept} already {target}x{target}"
    if up:
        smallest = ", ".join(f"{n} ({s} px, x{target / s:.3g})" for s, n in up[:5])
        line += f"; scaled up (blurry): {smallest}" + (f" and {len(up) - 5} more" if len(up) > 5 else "")
    notes.append(line)
    return notes


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
