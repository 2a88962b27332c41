"""sg2tf-convert: a network file -> an sg2tf snapshot, or an NVlabs pickle the original tools read.

sg2tf-convert --network=stylegan2-ffhq-config-f.pkl --out=ffhq-snapshot
sg2tf-convert --network=my-snapshot --to=nvlabs --out=my-network.pkl [--format=stylegan2|ada]
sg2tf-convert --network=my-snapshot --to=pytorch --checkout=stylegan2-ada-pytorch --out=my-network-pt.pkl

It first says what it read (file kind, size, classes, mapping, channels, float16 blocks). With
--to=nvlabs, --trunc and --trunc_cutoff, when given, are stored as G_main's default truncation
(the TF1 scripts' default when they pass none; without them the TF1 code's own psi 0.5 applies).
"""

import os

from absl import flags

import sg2tf
import sg2tf.cli.convert_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common

FLAGS = flags.FLAGS
# The flags each --to takes beyond --network, --out, --overwrite and --verbose.
_TAKES = {"snapshot": (), "nvlabs": ("format", "trunc", "trunc_cutoff"), "pytorch": ("format", "checkout")}


def _file_kind(path):
    """What kind of network file `path` is, in words."""
    import tensorflow as tf

    from sg2tf.io import snapshot

    if snapshot.is_snapshot(path):
        return "sg2tf snapshot"
    with tf.io.gfile.GFile(path, "rb") as f:
        head = f.read(1 << 20)
    return "stylegan2-ada-pytorch pickle" if b"torch_utils" in head else "NVlabs TF pickle"


def describe(nets):
    """Two lines on the networks: size, classes, latents and mapping; architecture, channels, precision."""
    G, D = nets.generator, nets.D
    present = ", ".join(k for k in ("G", "D", "G_ema") if nets[k] is not None)
    m, s = G.mapping, G.synthesis
    if G.c_dim:
        classes = f"{G.c_dim} classes (label {'embedding' if m.label_mode == 'embed' else 'concatenation'})"
    else:
        classes = "unconditional"
    arch = f"G {s.architecture}" + ("" if D is None else f", D {D.architecture}")
    low = sorted(res for res, dtype in s.block_dtypes.items() if dtype != "float32")
    if low:
        clamp = "" if s.conv_clamp is None else f", conv_clamp {s.conv_clamp:g}"
        precision = f"{s.low_precision} at {low[0]}-{low[-1]} px (num_fp16_res {s.num_fp16_res}{clamp})"
    else:
        precision = "float32" + ("" if s.conv_clamp is None else f", conv_clamp {s.conv_clamp:g}")
    R = G.img_resolution
    return (
        f"{present}: {R}x{R}, {G.img_channels} channels, {classes}; z {G.z_dim}, w {G.w_dim}, "
        f"mapping {m.num_layers} layers of {m.layer_features}\n"
        f"{arch}; channels {s.channels(4)} at 4x4 to {s.channels(R)} at {R}x{R}; {precision}"
    )


def _write_pickle(nets):
    from sg2tf.io import nvlabs_write

    if FLAGS.to == "pytorch":
        info = nvlabs_write.save_pytorch_pickle(FLAGS.out, nets, FLAGS.checkout, format=FLAGS.format)
        via = f"{nvlabs_write.TITLES[info.format]} pickle converted by {FLAGS.checkout}/legacy.py"
        print(f"wrote {info.path}: stylegan2-ada-pytorch pickle (G, D, G_ema), from the {via}")
        return
    psi = FLAGS.trunc if FLAGS["trunc"].present else None  # the originals' pickles store none
    info = nvlabs_write.save_nvlabs_pickle(
        FLAGS.out, nets, format=FLAGS.format, truncation_psi=psi, truncation_cutoff=FLAGS.trunc_cutoff
    )
    why = "as asked" if FLAGS.format != "auto" else f"the kind it is closest to ({info.reason})"
    print(f"wrote {info.path}: {nvlabs_write.TITLES[info.format]} pickle (G, D, Gs), {why}")
    if info.legacy_problems:
        print("note: stylegan2-ada-pytorch's legacy.py cannot read it: " + "; ".join(info.legacy_problems))


def _check_flags():
    """Refuses the flags of another `--to`, and `--to=pytorch` without `--checkout`."""
    others = sorted({name for names in _TAKES.values() for name in names} - set(_TAKES[FLAGS.to]))
    given = [f"--{name}" for name in others if FLAGS[name].present]
    if given:
        common.fail(f"{', '.join(given)}: not with --to={FLAGS.to}")
    if FLAGS.to == "pytorch" and not FLAGS.checkout:
        common.fail("--to=pytorch needs --checkout=<a stylegan2-ada-pytorch checkout>")


def main(argv):
    common.start(argv)
    from sg2tf.io import snapshot

    _check_flags()
    common.check_new_outputs([FLAGS.out], FLAGS.overwrite)
    nets = sg2tf.load_network(FLAGS.network)  # its errors are UserErrors: one line each
    kind = _file_kind(FLAGS.network)
    if nets.generator is None:
        common.fail(f"{FLAGS.network}: contains no generator")
    print(f"read {FLAGS.network} ({kind}): " + describe(nets))
    if FLAGS.to != "snapshot":
        return _write_pickle(nets)
    networks = {"G": nets.G, "D": nets.D, "G_ema": nets.G_ema}
    metadata = dict(nets.metadata, converted_from=os.path.abspath(FLAGS.network))
    path = snapshot.save_snapshot(FLAGS.out, networks, metadata=metadata)
    present = ", ".join(k for k, v in networks.items() if v is not None)
    print(f"wrote {path} ({present})")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
