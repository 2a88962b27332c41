"""The main job on the embedded default, end to end:

  ./run.sh demo --kimg=200          (python -m sg2tf.cli.demo --workdir=sg2tf-demo --kimg=200)

  1. make the synthetic shapes dataset (`sg2tf-dataset create_synthetic`) as .tfrecords;
  2. train a small configuration on it (`sg2tf-train --cfg=demo`), resuming a previous run;
  3. write a sample grid and a truncation grid from the newest snapshot;
  4. export a SavedModel and a TFLite model, load both back and generate from them;
  5. say where everything is and what to try next.

Rerunning reuses the dataset and continues training with `--resume=latest`; steps 3 and 4
are redone only for a new snapshot.
"""

import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from absl import flags

import sg2tf
import sg2tf.cli.demo_flags  # noqa: F401 (defines the flags)
from sg2tf.cli import common
from sg2tf.training import presets
from sg2tf.utils import console
from sg2tf.utils import images as image_utils
from sg2tf.utils.atomic import atomic_file
from sg2tf.utils.seeds import z_from_seeds

FLAGS = flags.FLAGS
PSIS = (1.0, 0.8, 0.6, 0.4, 0.2, 0.0)


def step(number, text):
    print(f"\n=== [{number}/5] {text}", flush=True)


def run_program(cmd):
    """Runs an sg2tf program (`python -m sg2tf.cli.X ...`), printing it as a user would type it;
    a failure stops the demo with the program's own message and exit status."""
    cmd = cmd + (["--verbose"] if FLAGS.verbose else [])
    print(" ".join(["sg2tf-" + cmd[2].rsplit(".", 1)[1]] + cmd[3:]), flush=True)
    status = subprocess.run(cmd).returncode
    if status:
        sys.stderr.write(f"demo: {cmd[2]} failed (exit status {status}); see its message above\n")
        sys.exit(status)


def make_dataset(path):
    if os.path.isdir(path):
        from sg2tf.data import read_info

        info = read_info(path)
        print(f"reusing {path} ({info.count} images, {info.resolution}x{info.resolution})")
        return
    cmd = [
        sys.executable,
        "-m",
        "sg2tf.cli.dataset",
        "create_synthetic",
        f"--tfrecord_dir={path}",
        f"--num_images={FLAGS.num_images}",
        f"--resolution={FLAGS.resolution}",
        f"--seed={FLAGS.seed}",
    ]
    run_program(cmd)


def train(data, runs):
    has_checkpoint = bool(glob.glob(os.path.join(runs, "*", "checkpoints", "*")))
    cmd = [
        sys.executable,
        "-m",
        "sg2tf.cli.train",
        f"--data={data}",
        f"--outdir={runs}",
        "--cfg=demo",
        "--mirror",
        "--aug=noaug",
        f"--kimg={FLAGS.kimg}",
        f"--tick_kimg={FLAGS.tick_kimg}",
        f"--snap={FLAGS.snap}",
        f"--seed={FLAGS.seed}",
    ]
    if has_checkpoint:
        cmd.append("--resume=latest")
        print("continuing the previous run (--resume=latest)")
    run_program(cmd)
    run_dirs = sorted(d for d in glob.glob(os.path.join(runs, "[0-9]" * 5 + "-*")) if os.path.isdir(d))
    snapshots = sorted(glob.glob(os.path.join(run_dirs[-1], "network-snapshot-*")))
    if not snapshots:
        raise RuntimeError(f"training wrote no snapshot under {run_dirs[-1]}")  # a bug: traceback
    return run_dirs[-1], snapshots[-1]


def sample_grids(G, outdir):
    from sg2tf import sampling

    samples = np.concatenate(
        [imgs for _, imgs in sampling.generate_from_seeds(G, range(64), truncation_psi=1.0, batch_size=16)]
    )
    grid_path = os.path.join(outdir, "samples.png")
    image_utils.atomic_save_png(grid_path, image_utils.make_grid(samples, cols=8))
    rows = sampling.truncation_grid(G, range(8), PSIS)
    trunc_path = os.path.join(outdir, "truncation.png")
    image_utils.atomic_save_png(trunc_path, image_utils.make_grid(rows, cols=len(PSIS)))
    print(f"wrote {grid_path} (seeds 0-63, psi 1)")
    print(f"wrote {trunc_path} (rows: seeds 0-7; columns: psi {', '.join(map(str, PSIS))})")


def export_and_reload(G, outdir):
    import tensorflow as tf

    from sg2tf.export import export_saved_model, export_tflite
    from sg2tf.export.tflite import interpreter as tflite_interpreter

    seeds = list(range(8))
    saved_dir = export_saved_model(G, os.path.join(outdir, "saved_model"))
    print(f"wrote SavedModel {saved_dir}")
    paths, _ = export_tflite(G, os.path.join(outdir, "tflite"), quantize=("none",), batch=1)
    print(f"wrote TFLite {paths['none']}")

    loaded = tf.saved_model.load(saved_dir)
    with console.quietly():  # oneDNN's notice about the uint64 seed arithmetic
        from_saved = loaded.signatures["generate_seeds"](
            seeds=tf.constant(seeds, tf.int64), truncation_psi=tf.constant(0.7)
        )["images"].numpy()
    runner = tflite_interpreter(model_path=paths["none"]).get_signature_runner("serving_default")
    from_tflite = np.concatenate(
        [runner(z=z_from_seeds([s], G.z_dim), truncation_psi=np.float32(0.7))["images"] for s in seeds]
    )
    diff = int(np.abs(from_saved.astype(int) - from_tflite.astype(int)).max())
    for name, images in (("saved_model", from_saved), ("tflite", from_tflite)):
        path = os.path.join(outdir, f"{name}_seeds0-7.png")
        image_utils.atomic_save_png(path, image_utils.make_grid(images, cols=8))
        print(f"wrote {path} (generated by the reloaded {name}, psi 0.7)")
    print(f"SavedModel and TFLite images differ by at most {diff} uint8 step(s)")


def snapshot_state(snapshot):
    """What identifies the snapshot the grids and exports were made from: its path, and the
    time its directory was completed (a snapshot written again under the same name is new)."""
    return {"snapshot": snapshot, "mtime_ns": os.stat(snapshot).st_mtime_ns}


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(argv):
    common.start(argv)
    start = time.time()
    workdir = os.path.abspath(FLAGS.workdir)
    data = os.path.join(workdir, "datasets", f"shapes{FLAGS.resolution}")
    runs = os.path.join(workdir, "runs")
    exports = os.path.join(workdir, "export")
    os.makedirs(workdir, exist_ok=True)

    step(1, "synthetic shapes dataset")
    make_dataset(data)

    step(2, f"training a small generator for {FLAGS.kimg:g} kimg")
    run_dir, snapshot = train(data, runs)

    # Steps 3 and 4 depend only on the snapshot: a rerun that trained nothing new skips them.
    state_path = os.path.join(workdir, "demo-outputs.json")
    state = snapshot_state(snapshot)
    if read_json(state_path) == state:
        print(f"\nsamples and exports are up to date with {snapshot}; steps 3 and 4 skipped")
    else:
        step(3, "sample and truncation grids")

        G = sg2tf.load_network(snapshot).generator
        sample_grids(G, workdir)

        step(4, "export (SavedModel, TFLite) and reload")
        export_and_reload(G, exports)
        with atomic_file(state_path) as tmp, open(tmp, "w") as f:
            json.dump(state, f)

    step(5, "done")
    print(f"""finished in {(time.time() - start) / 60:.1f} minutes. Everything is under {workdir}:
  dataset      {data}
  run          {run_dir}  (log.txt, stats.jsonl, fakes*.png, snapshots, checkpoints)
  network      {snapshot}
  grids        {os.path.join(workdir, "samples.png")}, {os.path.join(workdir, "truncation.png")}
  exports      {exports}

{next_steps(snapshot)}
Rerun ./run.sh demo --kimg={2 * FLAGS.kimg:g} to train this demo further (it resumes).""")


def next_steps(snapshot):
    """The commands to try on one's own images, sized for this machine: on a CPU, 64x64 images
    and the CPU-sized preset, with what a kimg costs (`sg2tf.training.presets`)."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        resolution, cfg, cost = "", "auto", ""
    else:
        resolution, cfg = " --resolution=64", presets.CPU_PRESET
        costs = [(name, *presets.cpu_cost(name, 64)) for name in (cfg, "auto")]
        cost = "\nOn this CPU (no GPU), at 64x64: " + "; ".join(
            f"--cfg={name} about {secs:,.0f} s/kimg and {gib:.1f} GiB" for name, secs, gib in costs
        )
    return f"""Next, on your own images (activate the environment first: source .venv/bin/activate):
  sg2tf-dataset create_from_images --image_dir=~/my-images --tfrecord_dir=datasets/mine \\
      --resize=center-crop --convert_mode=RGB{resolution}
  sg2tf-train --data=datasets/mine --outdir=runs --cfg={cfg} --mirror
  sg2tf-train --outdir=runs --resume=latest          # continue after a stop or crash
  tensorboard --logdir=runs
  sg2tf-generate --network={snapshot} --seeds=0-15 --trunc=0.7 --outdir=out{cost}"""


def run():
    common.run(main)


if __name__ == "__main__":
    run()
