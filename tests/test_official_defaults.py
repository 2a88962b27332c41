"""sg2tf's built-in defaults against the values read out of the original code.

`tests/data/official_defaults.json` is written by `scripts/official_defaults.py` from the originals'
own source (stylegan2-ada-pytorch's and TF1 StyleGAN2's activation tables, LPIPS's input scaling),
so these tests fail if sg2tf's tables drift from the originals, not from themselves.
"""

import json

import numpy as np
import pytest
from conftest import DATA

OFFICIAL = json.loads((DATA / "official_defaults.json").read_text())
ADA_ACTS = OFFICIAL["bias_act"]["stylegan2-ada-pytorch"]["activations"]
TF1_ACTS = OFFICIAL["bias_act"]["stylegan2"]["activations"]


def official_activation(name):
    """(alpha, gain) defaults of activation `name` as stylegan2-ada-pytorch defines them."""
    spec = ADA_ACTS[name]
    return spec["def_alpha"], spec["def_gain"]


def test_data_records_its_origin():
    for table in OFFICIAL["bias_act"].values():
        assert len(table["commit"]) == 40, table["source"]
    assert OFFICIAL["lpips"]["version"]


@pytest.mark.parametrize("name", sorted(ADA_ACTS))
def test_activation_defaults_match_the_originals(name):
    from sg2tf.ops.bias_act import ACTIVATIONS

    ours = ACTIVATIONS[name]
    assert (ours.def_alpha, ours.def_gain, ours.cuda_idx) == (
        ADA_ACTS[name]["def_alpha"],
        ADA_ACTS[name]["def_gain"],
        ADA_ACTS[name]["cuda_idx"],
    )
    # TF1 StyleGAN2 agrees on gain and kernel index; its alpha is None where the activation has none.
    assert (ours.def_gain, ours.cuda_idx) == (TF1_ACTS[name]["def_gain"], TF1_ACTS[name]["cuda_idx"])
    assert TF1_ACTS[name]["def_alpha"] in (None, ours.def_alpha)


def test_the_activation_tables_name_the_same_activations():
    from sg2tf.ops.bias_act import ACTIVATIONS

    assert set(ACTIVATIONS) == set(ADA_ACTS) == set(TF1_ACTS)


def test_lpips_input_scaling_matches_the_original():
    from sg2tf.metrics import features

    np.testing.assert_array_equal(features.LPIPS_SHIFT, np.float32(OFFICIAL["lpips"]["shift"]))
    np.testing.assert_array_equal(features.LPIPS_SCALE, np.float32(OFFICIAL["lpips"]["scale"]))
