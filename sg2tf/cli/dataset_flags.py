"""Flags of `sg2tf-dataset` and which subcommand takes which.

absl flags are global, so every flag is defined once here; `COMMANDS` lists, per
subcommand, its summary, its required flags and its optional flags. `sg2tf-dataset`
rejects flags that do not belong to the subcommand it runs.
"""

from absl import flags

from sg2tf.cli import flags_common as common

# Inputs and outputs.
common.define_path("tfrecord_dir", None, "TFRecord dataset directory (created, or read).")
common.define_path("image_dir", None, "Folder of images (png/jpg/webp/bmp, searched recursively).")
common.define_path("hdf5_filename", None, "Legacy HDF5 archive; <name>-labels.npy beside it is used as labels.")
common.define_path("cifar10_dir", None, "Extracted cifar-10-batches-py/ folder or cifar-10-python.tar.gz.")
common.define_path("cifar100_dir", None, "Extracted cifar-100-python/ folder or cifar-100-python.tar.gz.")
common.define_path("mnist_dir", None, "Folder with train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz.")
common.define_path("lmdb_dir", None, "LSUN category LMDB directory (needs the lmdb extra).")
common.define_path("output_dir", None, "Folder to extract PNG images and dataset.json into.")
common.define_path("source", None, "stylegan2-ada-pytorch dataset: a .zip archive or a folder (with dataset.json).")
common.define_path(
    "dest",
    None,
    "to_zip: output .zip archive, or a folder, in the stylegan2-ada-pytorch layout; filter: the new dataset directory.",
)
common.define_path("tfrecord_dir_a", None, "First dataset to compare.")
common.define_path("tfrecord_dir_b", None, "Second dataset to compare.")
common.define_output("Output PNG file of the image grid.")

# Writing.
flags.DEFINE_boolean(
    "shuffle",
    None,
    "Store images in the official shuffled order (RandomState(123)). "
    "Default: on, except from_zip (off, so a round trip is exact).",
)
flags.DEFINE_enum(
    "resolutions",
    "all",
    ["all", "top"],
    "Levels to store: all (the official format, full size down to 4x4) or top (full size only).",
)
flags.DEFINE_enum("encoding", "raw", ["raw", "png"], "Record data: raw (official, uncompressed) or png (lossless).")
common.define_overwrite("Replace an existing output (only once the new one is complete).")
flags.DEFINE_boolean("progress", True, "Show a progress bar on stderr.")
common.define_verbose()  # every command takes it

# Image conversion.
flags.DEFINE_enum(
    "resize",
    None,
    ["center-crop", "pad"],
    "Make non-square / odd-sized images square (crop the centre, or pad with black), then scale to --resolution.",
)
flags.DEFINE_integer(
    "resolution",
    None,
    "Output resolution (creators: every image is scaled to it, as stylegan2-ada-pytorch's dataset_tool "
    "--width/--height) or resolution to read (tools). Default: the images' own size (with --resize: the "
    "largest power of two not above their median side) / the full resolution; 256 for create_lsun.",
)
flags.DEFINE_boolean(
    "skip_bad", False, "Leave out the images that cannot be used (listed) and write the others, instead of stopping."
)
flags.DEFINE_enum("resize_filter", "lanczos", ["lanczos", "box", "bicubic"], "Filter for scaling images.")
flags.DEFINE_enum(
    "convert_mode",
    None,
    ["RGB", "L"],
    "Convert every image to RGB or grayscale (palette, alpha (dropped unless --keep_alpha), CMYK, 16-bit (scaled)).",
)
flags.DEFINE_boolean(
    "keep_alpha",
    False,
    "Keep transparency: RGBA images give 4-channel records, gray+alpha (LA) 2-channel ones; every image must "
    "then have the same mode, or with --convert_mode=RGB (L) every image becomes RGBA (LA), opaque where it had "
    "no alpha. The original tools cannot read such datasets (1 or 3 channels only).",
)
flags.DEFINE_enum(
    "pad_rule",
    "lsun_wide",
    ["lsun_wide", "keep_aspect"],
    "--pad_to_square's rows: lsun_wide (the original's round(W*h/w) rows: the same records, but images wider than "
    "W are narrowed more than shortened) or keep_aspect (round(H*w/W) rows: every picture keeps its aspect ratio).",
)
flags.DEFINE_boolean(
    "allow_nonsquare",
    False,
    "Keep non-square images at their own size (all the same, e.g. 64x48 or 512x384: a base shape doubled a whole "
    "number of times) for sg2tf's rectangular networks; mixed sizes or aspect ratios are named before writing. "
    "The original tools cannot read such datasets (square records only).",
)
flags.DEFINE_string(
    "pad_to_square",
    None,
    "WxH, e.g. 512x384: the LSUN Car layout of the original create_lsun_wide: each image keeps its "
    "round(W*h/w) central rows, is scaled to WxH and placed in the middle rows of a black WxW square "
    "(sg2tf-generate --crop=WxH cuts the picture out again). Images narrower than W or with fewer such rows "
    "are named (left out with --skip_bad, as the original skips them). Not with --resize/--resolution.",
)

# Source specific.
flags.DEFINE_integer("num_images", None, "create_synthetic: images to draw (default 5000); grid: images to show (64).")
common.define_seed(0, "create_synthetic: random seed.")
flags.DEFINE_boolean("labels", False, "create_synthetic: store one-hot shape labels.")
flags.DEFINE_integer("max_images", None, "create_lsun: use only the first N images.")
flags.DEFINE_boolean("ignore_labels", False, "create_cifar10: store no labels; compare: compare images only.")

# Tools.
flags.DEFINE_enum(
    "label_format",
    "auto",
    ["auto", "index", "vector"],
    "dataset.json labels: class indices, float vectors, or auto (indices when exact).",
)
flags.DEFINE_integer("columns", None, "grid: images per row (default: square grid).")
flags.DEFINE_boolean("verify", False, "info: also read and check every record of every file.")
flags.DEFINE_enum("split", "train", ["train", "validation"], "info: which split (StyleGAN2-ADA validation files).")

# Cleaning (filter).
common.define_path("rank_file", None, "filter: a ranking.tsv that sg2tf-rank wrote for this dataset.")
flags.DEFINE_float(
    "drop_fraction",
    None,
    "filter: with --rank_file, leave out the lowest-ranked fraction (0.1: the worst 10% of the ranked images).",
)
common.define_path(
    "drop_list",
    None,
    "filter: a text file of images to leave out, one per line: a source "
    "file name (ranking.tsv's name column) or a record index; '#' starts a comment line.",
)

_WRITE = ["shuffle", "resolutions", "encoding", "overwrite", "progress"]
_IMAGES = [
    "resize",
    "resolution",
    "resize_filter",
    "convert_mode",
    "keep_alpha",
    "pad_to_square",
    "pad_rule",
    "allow_nonsquare",
    "skip_bad",
]

# name: (summary, required flags, optional flags)
COMMANDS = {
    "create_from_images": (
        "Create a dataset from a folder of images (validated before anything is written).",
        ["image_dir", "tfrecord_dir"],
        _IMAGES + _WRITE,
    ),
    "create_from_hdf5": (
        "Create a dataset from a legacy HDF5 archive (largest data<R>x<R> array).",
        ["hdf5_filename", "tfrecord_dir"],
        _WRITE,
    ),
    "create_cifar10": (
        "Create a dataset from CIFAR-10 (python version), with one-hot labels.",
        ["cifar10_dir", "tfrecord_dir"],
        ["ignore_labels"] + _WRITE,
    ),
    "create_cifar100": (
        "Create a dataset from CIFAR-100 (python version), with one-hot fine labels.",
        ["cifar100_dir", "tfrecord_dir"],
        _WRITE,
    ),
    "create_mnist": (
        "Create a dataset from MNIST (padded to 32x32, grayscale), with one-hot labels.",
        ["mnist_dir", "tfrecord_dir"],
        _WRITE,
    ),
    "create_lsun": (
        "Create a dataset from one LSUN category LMDB (centre crop, resize).",
        ["lmdb_dir", "tfrecord_dir"],
        ["resolution", "max_images"] + _WRITE,
    ),
    "create_synthetic": (
        "Create the demo dataset: coloured shapes, any resolution, optional labels.",
        ["tfrecord_dir"],
        ["num_images", "resolution", "seed", "labels"] + _WRITE,
    ),
    "info": (
        "Print a dataset's resolutions, image count, channels, labels and file sizes as JSON.",
        ["tfrecord_dir"],
        ["verify", "split", "progress"],
    ),
    "extract": (
        "Write every image as img%08d.png in record order, plus dataset.json with the labels.",
        ["tfrecord_dir", "output_dir"],
        ["resolution", "label_format", "overwrite", "progress"],
    ),
    "compare": (
        "Compare two datasets record by record; exit status 1 if they differ.",
        ["tfrecord_dir_a", "tfrecord_dir_b"],
        ["ignore_labels"],
    ),
    "grid": (
        "Save the first N images as a PNG grid.",
        ["tfrecord_dir", "output"],
        ["num_images", "resolution", "columns", "overwrite"],
    ),
    "to_zip": (
        "Convert to the stylegan2-ada-pytorch format (.zip, or a folder) with dataset.json.",
        ["tfrecord_dir", "dest"],
        ["resolution", "label_format", "overwrite", "progress"],
    ),
    "from_zip": (
        "Create a dataset from the stylegan2-ada-pytorch format (.zip or folder, dataset.json labels).",
        ["source", "tfrecord_dir"],
        _IMAGES + _WRITE,
    ),
    "filter": (
        "Write a copy without the lowest-ranked images (--rank_file, --drop_fraction) or the listed ones "
        "(--drop_list); records are copied as stored, with labels and source names.",
        ["tfrecord_dir", "dest"],
        ["rank_file", "drop_fraction", "drop_list", "overwrite", "progress"],
    ),
}
