"""Flags of sg2tf-metrics."""

from absl import flags

from sg2tf.cli import flags_common as common

common.define_network()
flags.DEFINE_string(
    "metrics",
    "fid50k_full",
    "Comma-separated metrics: fid50k_full, fid50k, "
    "kid50k_full, kid50k, pr50k3_full, pr50k3, is50k, ppl_zfull, ppl_wfull, "
    "ppl_zend, ppl_wend, ppl2_wend.",
)
common.define_data("Dataset directory (.tfrecords) for the real statistics.")
flags.DEFINE_bool("mirror", False, "Include x-flipped copies of the real images.")
flags.DEFINE_integer("num_gen", None, "Generated images (PPL: samples) instead of 50000.")
common.define_out(
    "Append the JSON lines to this file (default: metric-<name>.jsonl next to a snapshot directory; else stdout only)."
)
common.define_feature_networks(
    inception="The 2015-12-05 Inception graph (classify_image_graph_def.pb or inception-2015-12-05.tgz).",
    vgg16="The NVlabs vgg16.pkl (precision/recall).",
    lpips="The NVlabs vgg16_zhang_perceptual.pkl (PPL).",
)
flags.DEFINE_bool("cache", True, "Cache real-data statistics under $SG2TF_CACHE/stats.")
common.define_batch(16)
common.define_seed(0, "Seed of the generated latents.")
common.define_ops()
common.define_precision()
common.define_verbose()

flags.mark_flags_as_required(["network"])
