"""Flags of sg2tf-metrics."""

from absl import flags

flags.DEFINE_string("network", None, "Network: NVlabs pickle, stylegan2-ada-pytorch pickle "
                    "(torch extra) or sg2tf snapshot directory.")
flags.DEFINE_string("metrics", "fid50k_full", "Comma-separated metrics: fid50k_full, fid50k, "
                    "kid50k_full, kid50k, pr50k3_full, pr50k3, is50k, ppl_zfull, ppl_wfull, "
                    "ppl_zend, ppl_wend, ppl2_wend.")
flags.DEFINE_string("data", None, "Dataset directory (.tfrecords) for the real statistics.")
flags.DEFINE_bool("mirror", False, "Include x-flipped copies of the real images.")
flags.DEFINE_integer("num_gen", None, "Generated images (PPL: samples) instead of 50000.")
flags.DEFINE_string("output", None, "Append the JSON lines to this file (default: "
                    "metric-<name>.jsonl next to a snapshot directory; else stdout only).")
flags.DEFINE_string("inception", None, "The 2015-12-05 Inception graph "
                    "(classify_image_graph_def.pb or inception-2015-12-05.tgz).")
flags.DEFINE_string("vgg16", None, "The NVlabs vgg16.pkl (precision/recall).")
flags.DEFINE_string("lpips", None, "The NVlabs vgg16_zhang_perceptual.pkl (PPL).")
flags.DEFINE_bool("cache", True, "Cache real-data statistics under $SG2TF_CACHE/stats.")
flags.DEFINE_integer("batch", 16, "Images per batch.")
flags.DEFINE_integer("seed", 0, "Seed of the generated latents.")
flags.DEFINE_enum("ops", None, ["auto", "custom", "ref"], "Op implementation "
                  "(default: $SG2TF_OPS or auto).")

flags.mark_flags_as_required(["network"])
