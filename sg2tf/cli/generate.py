"""sg2tf-generate: images from a network, by seed or from projected ws.

  sg2tf-generate --network=net.pkl --seeds=0-3,42 --trunc=0.7 --outdir=out
  sg2tf-generate --network=net.pkl --seeds=0-7 --trunc_grid=1,0.7,0.5,0 --outdir=out
writes out/seed0000.png ... like stylegan2-ada-pytorch's generate.py (stored noise);
--noise_mode=seeded writes those of the TensorFlow scripts (StyleGAN2 run_generator.py,
StyleGAN2-ADA generate.py), which draw the noise inputs from the seed too. --trunc_grid
writes trunc_grid.png instead: a row per seed, a column per psi. On a CPU the network
computes in float32 (the official force_fp32=True outputs) unless --precision says otherwise.
Networks of 2 or 4 channels write gray+alpha or RGBA PNGs (the last channel is the alpha);
--crop=WxH cuts the picture of a padded (--pad_to_square) dataset's network out of its square.
"""

import os

import numpy as np
from absl import flags

import sg2tf.cli.generate_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.errors import FlagError
from sg2tf.utils import images as image_utils
from sg2tf.utils.seeds import parse_float_list, parse_range_list

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv, FLAGS.ops)

    from sg2tf import sampling

    if (FLAGS.seeds is None) == (FLAGS.projected_w is None):
        raise FlagError("give exactly one of --seeds and --projected_w")
    if FLAGS.trunc_grid and FLAGS.seeds is None:
        raise FlagError("--trunc_grid needs --seeds")
    seeds = parse_range_list(FLAGS.seeds) if FLAGS.seeds is not None else None
    psis = parse_float_list(FLAGS.trunc_grid, "trunc_grid", "1,0.7,0.5,0") if FLAGS.trunc_grid else None
    crop = image_utils.parse_size(FLAGS.crop, "crop") if FLAGS.crop else None
    G = common.load_generator(FLAGS.network, FLAGS.precision)
    if crop and (crop[0] > G.img_resolution or crop[1] > G.img_resolution):
        R = G.img_resolution
        raise FlagError(f"--crop={FLAGS.crop}: larger than the network's {R}x{R} images")

    def cropped(images):
        return image_utils.crop_center(images, *crop) if crop else images

    if seeds is not None:
        sampling.class_labels(G, FLAGS.class_idx, 1)
        names = [f"seed{seed:04d}.png" for seed in seeds]
    else:
        ws = sampling.load_projected_w(FLAGS.projected_w, G)
        names = [f"proj{i:02d}.png" for i in range(len(ws))]
    names = ["trunc_grid.png"] if psis else names + (["grid.png"] if FLAGS.grid else [])
    common.check_new_outputs([os.path.join(FLAGS.outdir, n) for n in names], FLAGS.overwrite)

    os.makedirs(FLAGS.outdir, exist_ok=True)
    if psis:
        images = sampling.truncation_grid(
            G, seeds, psis, FLAGS.trunc_cutoff, FLAGS.class_idx, FLAGS.noise_mode, FLAGS.batch
        )
        path = os.path.join(FLAGS.outdir, "trunc_grid.png")
        image_utils.atomic_save_png(path, image_utils.make_grid(cropped(images), cols=len(psis)))
        print(f"wrote {path} (rows: seeds {FLAGS.seeds}; columns: psi {', '.join(f'{p:g}' for p in psis)})")
        return
    if seeds is not None:
        chunks = sampling.generate_from_seeds(
            G, seeds, FLAGS.trunc, FLAGS.trunc_cutoff, FLAGS.class_idx, FLAGS.noise_mode, FLAGS.batch
        )
        batches = (images for _, images in chunks)
    else:
        batches = sampling.generate_from_ws(G, ws, FLAGS.noise_mode, FLAGS.batch)
    progress = common.Progress(len(seeds if seeds is not None else ws), "generating")
    written = []
    for images in batches:
        for image in cropped(images):
            image_utils.atomic_save_png(os.path.join(FLAGS.outdir, names[len(written)]), image)
            written.append(image)
        progress.update(len(images))
    if FLAGS.grid:
        image_utils.atomic_save_png(os.path.join(FLAGS.outdir, "grid.png"), image_utils.make_grid(np.stack(written)))
    print(f"wrote {len(written)} images to {FLAGS.outdir}")


def run():
    common.run(main)


if __name__ == "__main__":
    run()
