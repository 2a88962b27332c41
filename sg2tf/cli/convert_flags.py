"""Flags of sg2tf-convert."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network("Input network: NVlabs TF pickle, stylegan2-ada-pytorch pickle (torch extra) or sg2tf snapshot.")
common.define_out("Output: a snapshot directory (--to=snapshot) or a pickle file (--to=nvlabs|pytorch).")
flags.DEFINE_enum(
    "to",
    "snapshot",
    ["snapshot", "nvlabs", "pytorch"],
    "What to write: an sg2tf snapshot; an NVlabs TensorFlow pickle that the original tools read "
    "(stylegan2-ada-pytorch's legacy.py, generate.py, projector.py; the TF1 StyleGAN2/ADA scripts); "
    "or a native stylegan2-ada-pytorch pickle, converted by --checkout's legacy.py (needs torch).",
)
common.define_path("checkout", None, "--to=pytorch: a stylegan2-ada-pytorch checkout, whose legacy.py converts.")
flags.DEFINE_enum(
    "format",
    "auto",
    ["auto", "stylegan2", "ada"],
    "--to=nvlabs|pytorch: the NVlabs pickle's kind: StyleGAN2 (state version 4) or StyleGAN2-ADA TF (version 5); "
    "auto: the kind the network is closest to.",
)
# --to=nvlabs: stored as G_main's default truncation when given (the TF1 code's own is psi 0.5).
common.define_truncation("--to=nvlabs: stored as G_main's default cutoff, with --trunc (default: none stored).")
common.define_overwrite("Replace an existing output at --out.")
common.define_verbose()

flags.mark_flags_as_required(["network", "out"])
