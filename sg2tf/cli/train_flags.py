"""Flags of sg2tf-train, made from the option fields of `sg2tf.training.options.TrainingOptions`
(each field declares its flag's kind, default and help). Unset flags (None) take the preset's
value (`--cfg`).

No TensorFlow here: the options module loads none.
"""

from absl import flags

from sg2tf.cli import flags_common as common
from sg2tf.training.options import OPTIONS

# Options whose flags other programs define too: made by flags_common, with the option's
# default and help.
SHARED = {
    "data": lambda o: common.define_data(o.help),
    "outdir": lambda o: common.define_outdir(o.help),
    "seed": lambda o: common.define_seed(o.default, o.help),
    "batch": lambda o: common.define_batch(o.default, o.help),
    "noise_mode": lambda o: common.define_noise_mode(o.default, o.help),
    "inception": lambda o: common.define_feature_networks(inception=o.help),
    "vgg16": lambda o: common.define_feature_networks(vgg16=o.help),
    "lpips": lambda o: common.define_feature_networks(lpips=o.help),
}
DEFINE = {
    "path": flags.DEFINE_string,
    "string": flags.DEFINE_string,
    "integer": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "bool": flags.DEFINE_bool,
}

for option in OPTIONS:
    if option.name in SHARED:
        SHARED[option.name](option)
    elif option.kind == "enum":
        flags.DEFINE_enum(option.name, option.default, option.choices, option.help)
    else:
        DEFINE[option.kind](option.name, option.default, option.help)
common.define_verbose()
