"""Names that flags, options and layers share. Importing this module loads no TensorFlow,
so flag modules can use it before the programs decide how to start TensorFlow."""

# How G's noise inputs are filled: fresh normal noise, the stored buffers, or zeros.
NOISE_MODES = ("random", "const", "none")

# G and D architectures of StyleGAN2 (paper, figure 7).
ARCHITECTURES = ("orig", "skip", "resnet")

# Augmentation modes of StyleGAN2-ADA's train.py (--aug) and its pipelines (--augpipe).
AUG_MODES = ("ada", "noaug", "fixed")
AUGPIPE_NAMES = ("blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn", "bgcfnc")

# Where Adam adds its epsilon: torch (torch.optim.Adam, stylegan2-ada-pytorch) to the
# bias-corrected sqrt(v); tf1 (tf.train.AdamOptimizer, the TensorFlow StyleGAN2 and ADA code)
# to sqrt(v) before the correction.
ADAM_VARIANTS = ("torch", "tf1")

# sg2tf-train --transfer: a fine-tune builds the source network's architecture (`same`) or the
# flags' one, copying the weights that fit (`partial`); see sg2tf/training/source_network.py.
TRANSFER_MODES = ("same", "partial")

# Op implementations (sg2tf.ops.dispatch): compiled when built, else the TensorFlow reference.
OP_IMPLS = ("auto", "custom", "ref")

# tf.distribute strategies sg2tf-train can use.
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")

# Low-precision compute types of the top-resolution blocks.
LOW_PRECISIONS = ("float16", "bfloat16")

# How the inference programs compute (--precision): auto = float32 on a CPU, the network's
# own mixed precision on a GPU; network = as trained; float16/bfloat16 = those types in the
# network's reduced-precision blocks (see sg2tf.networks.precision).
INFERENCE_PRECISIONS = ("auto", "float32", "network", "float16", "bfloat16")

# Program-level noise modes: the layers' modes plus `seeded`, the TF scripts' rule (z and
# then every noise input drawn from RandomState(seed)).
SEED_NOISE_MODES = NOISE_MODES + ("seeded",)
