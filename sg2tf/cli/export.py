"""sg2tf-export: a generator as a SavedModel (TF Serving) or TFLite models (devices).

  sg2tf-export --network=net.pkl --format=saved_model --outdir=models/ffhq
  sg2tf-export --network=net.pkl --format=tflite --quantize=none,float16,dynamic \\
      --batch=1 --outdir=tflite/ffhq

See docs/serving.md for the signatures and how to serve and query the exports.
"""

import json
import os

from absl import flags, logging

from sg2tf.cli import common, export_flags

FLAGS = flags.FLAGS


def main(argv):
    common.start(argv)
    if not FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)  # TensorFlow's saving chatter.
    QUANTIZATIONS = export_flags.QUANTIZATIONS
    quantize = [q.strip() for q in FLAGS.quantize if q.strip()]
    bad = [q for q in quantize if q not in QUANTIZATIONS]
    if bad or not quantize:
        common.fail(
            f"--quantize: expected some of {', '.join(QUANTIZATIONS)}, got {','.join(FLAGS.quantize) or 'nothing'}"
        )
    if FLAGS.format == "saved_model":
        for name in ("quantize", "batch", "report"):
            if FLAGS[name].present:
                common.fail(f"--{name} applies to --format=tflite only")
    elif FLAGS.precision != "float32":
        common.fail(
            f"--precision={FLAGS.precision}: TFLite models compute in float32 (TFLite builtins "
            "have no float16 activations); --quantize=float16 stores float16 weights"
        )
    from sg2tf.export import export_saved_model, export_tflite
    from sg2tf.export.tflite import REPORT_FILE, model_filename

    if FLAGS.format == "saved_model":
        outputs = [os.path.join(FLAGS.outdir, str(FLAGS.version))]
    else:
        outputs = [os.path.join(FLAGS.outdir, model_filename(q)) for q in dict.fromkeys(quantize)]
        outputs += [os.path.join(FLAGS.outdir, REPORT_FILE)] if FLAGS.report else []
    common.check_new_outputs(outputs, FLAGS.overwrite)  # before loading the network
    try:
        G = common.load_generator(FLAGS.network)
    except (ValueError, FileNotFoundError, OSError) as e:
        common.fail(str(e))
    if FLAGS.trunc_cutoff is not None and FLAGS.trunc_cutoff > G.num_ws:
        common.fail(f"--trunc_cutoff={FLAGS.trunc_cutoff} exceeds the {G.num_ws} ws of the network")
    # The file name only: an export is copied to servers and shared, its metadata with it.
    source = {"source_network": os.path.basename(os.path.normpath(FLAGS.network))}
    if FLAGS.format == "saved_model":
        path = export_saved_model(
            G,
            FLAGS.outdir,
            noise_mode=FLAGS.noise_mode,
            truncation_cutoff=FLAGS.trunc_cutoff,
            version=FLAGS.version,
            extra_metadata=source,
            precision=FLAGS.precision,
        )
        with open(os.path.join(path, "sg2tf_export.json")) as f:
            compute = json.load(f)["compute_precision"]
        print(
            f"wrote SavedModel {path} (signatures serving_default, mapping, synthesis, "
            f"synthesis_float, generate_seeds; computes in {compute})"
        )
        return
    paths, report = export_tflite(
        G,
        FLAGS.outdir,
        quantize=quantize,
        batch=FLAGS.batch,
        noise_mode=FLAGS.noise_mode,
        truncation_cutoff=FLAGS.trunc_cutoff,
        report=FLAGS.report,
        extra_metadata=source,
    )
    for path in paths.values():
        line = f"wrote {path} ({os.path.getsize(path) / 2**20:.2f} MiB, computes in float32"
        if report:
            entry = report["variants"][os.path.basename(path)[len("generator-") : -7]]
            err = entry["vs_saved_model"]
            line += (
                f", {entry['latency_ms']:.1f} ms per batch of {FLAGS.batch}, max error "
                f"{err['images_max_abs_error']:.2e} vs SavedModel, "
                f"{err['uint8_max_step']} uint8 steps"
            )
        print(line + ")")
    if report:
        print(f"report: {os.path.join(FLAGS.outdir, 'tflite_report.json')}")
        print(
            json.dumps(
                {
                    k: {"size_bytes": v["size_bytes"], "latency_ms": v["latency_ms"], **v["vs_saved_model"]}
                    for k, v in report["variants"].items()
                },
                indent=1,
            )
        )


def run():
    common.run(main)


if __name__ == "__main__":
    run()
