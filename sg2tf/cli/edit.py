"""sg2tf-edit: find editing directions in W, and apply them.

  sg2tf-edit directions --network=net.pkl --method=sefa --layers=0-3 --out=dirs.npz
  sg2tf-edit directions --network=net.pkl --method=ganspace --num_samples=100000 --out=pca.npz
  sg2tf-edit directions --network=cond.pkl --method=label --out=classes.npz
  sg2tf-edit apply --network=net.pkl --w=proj/face --directions=dirs.npz --index=0 \\
      --strengths=-3,-1.5,0,1.5,3 --outdir=edits [--layers=0-5] [--video]
  sg2tf-edit apply --network=net.pkl --seeds=0-3 --directions=dirs.npz --index=2 --outdir=edits

`directions` writes an npz of unit vectors in W (with the method, the style layers and a
hash of the network); `apply` writes edit-<method>-<index>.png: one row per input (projected
ws or seeds), one column per strength (strength 0 is the unedited image).
"""

import os

from absl import flags

import sg2tf.cli.edit_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import UserError

FLAGS = flags.FLAGS
COMMANDS = ("directions", "apply")


def _layers(spec):
    from sg2tf.utils.seeds import parse_range_list

    return None if spec is None else parse_range_list(spec, "layers")


def directions(G):
    from sg2tf.tools import editing

    if FLAGS.output is None:
        common.fail("directions: give --out (the npz to write)")
    layers = editing.check_layers(_layers(FLAGS.layers), G.num_ws)
    if FLAGS.method == "sefa":
        dirs, values = editing.sefa_directions(G, layers, FLAGS.num)
        extra = {"eigenvalues": values}
    elif FLAGS.method == "ganspace":
        progress = common.Progress(FLAGS.num_samples, "sampling w")
        dirs, variances, mean = editing.ganspace_directions(G, FLAGS.num, FLAGS.num_samples, FLAGS.seed, progress)
        extra = {"variances": variances, "mean": mean}
    else:
        dirs, distances = editing.label_directions(G, FLAGS.num_samples, FLAGS.seed)
        extra = {"distances": distances}
    output = os.path.expanduser(FLAGS.output)
    editing.save_directions(output, dirs, FLAGS.method, layers, editing.network_hash(G), **extra)
    print(f"wrote {output}: {len(dirs)} {FLAGS.method} directions for style inputs {layers}")


def apply(G):
    import numpy as np

    from sg2tf import sampling
    from sg2tf.tools import editing, video
    from sg2tf.tools.style_mixing import seeds_to_ws
    from sg2tf.utils import images as image_utils
    from sg2tf.utils.seeds import parse_range_list

    if (FLAGS.w is None) == (FLAGS.seeds is None):
        common.fail("apply: give exactly one of --w and --seeds")
    for name in ("directions", "outdir"):
        if FLAGS[name].value is None:
            common.fail(f"apply: give --{name}")
    try:
        strengths = [float(s) for s in FLAGS.strengths.split(",") if s.strip()]
    except ValueError:
        common.fail(f"--strengths={FLAGS.strengths}: expected numbers separated by commas, e.g. -3,0,3")
    if not strengths:
        common.fail("--strengths: no values given")
    data = editing.load_directions(os.path.expanduser(FLAGS.directions), G)
    if not FLAGS.index < len(data["directions"]):
        common.fail(f"--index={FLAGS.index}: {FLAGS.directions} holds {len(data['directions'])} directions")
    if not data["same_network"]:
        print(f"note: {FLAGS.directions} was made from another network (its weight hash differs)")
    layers = editing.check_layers(_layers(FLAGS.layers) if FLAGS.layers else data["layers"], G.num_ws)
    try:
        if FLAGS.w is not None:
            ws = video.load_projected([s for s in FLAGS.w.split(",") if s.strip()], G)
        else:
            sampling.class_labels(G, FLAGS.class_idx, 1)
            ws = seeds_to_ws(G, parse_range_list(FLAGS.seeds), FLAGS.trunc, FLAGS.trunc_cutoff, FLAGS.class_idx)
    except UserError:
        raise
    except (ValueError, OSError) as e:
        common.fail(str(e))
    direction = data["directions"][FLAGS.index]
    edited = editing.edit_ws(ws, direction, strengths, layers)  # [S, N, num_ws, w_dim]

    outdir = os.path.expanduser(FLAGS.outdir)
    os.makedirs(outdir, exist_ok=True)
    name = f"edit-{data['method']}-{FLAGS.index}"
    flat = edited.transpose(1, 0, 2, 3).reshape((-1,) + ws.shape[1:])  # row = input, column = strength
    images = np.concatenate(list(sampling.generate_from_ws(G, flat, FLAGS.noise_mode, FLAGS.batch)))
    grid = image_utils.make_grid(images, cols=len(strengths))
    image_utils.atomic_save_png(os.path.join(outdir, f"{name}.png"), grid)
    print(f"wrote {outdir}/{name}.png ({len(ws)} rows x strengths {strengths}, style inputs {layers})")
    if FLAGS.video:
        path, note = video.resolve_output(os.path.join(outdir, f"{name}.mp4"))
        if note:
            print(note)
        sweep = np.linspace(strengths[0], strengths[-1], FLAGS.frames)
        frames_ws = editing.edit_ws(ws, direction, sweep, layers)
        progress = common.Progress(len(sweep), "frames")
        with video.VideoWriter(path, fps=FLAGS.fps) as writer:
            for frame in video.render_frames(G, frames_ws, (len(ws), 1), FLAGS.noise_mode, FLAGS.batch, progress):
                writer.append(frame)
        print(f"wrote {path} ({writer.count} frames)")


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        common.fail(f"usage: sg2tf-edit {{{'|'.join(COMMANDS)}}} --network=... (sg2tf-edit --help for the flags)")
    command = argv[1]
    common.start(argv[:1] + argv[2:], FLAGS.ops)
    try:
        G = common.load_generator(os.path.expanduser(FLAGS.network), FLAGS.precision)
    except (ValueError, FileNotFoundError, OSError) as e:
        common.fail(str(e))
    (directions if command == "directions" else apply)(G)


def run():
    common.run(main)


if __name__ == "__main__":
    run()
