"""stylegan2-ada-pytorch pickle import (needs the optional torch extra)."""

import pickle
import sys
import types

import pytest

import sg2tf
from sg2tf.io import safe_pickle

torch = pytest.importorskip("torch")

from test_nvlabs_import_configs import DATA, check_discriminator, check_generator  # noqa: E402

from sg2tf.io import nvlabs_torch  # noqa: E402

PICKLES = {
    "torch-ada-cond-clamp-32.pkl": "ada-cond-clamp-32",
    "torch-ada-cond-fp16-16.pkl": "ada-cond-fp16-16",
    "torch-sg2-gray-resnet-skip-64.pkl": "sg2-gray-resnet-skip-64",
}


@pytest.mark.parametrize("pkl", sorted(PICKLES))
def test_torch_pickle_matches_reference(pkl, op_impl):
    nets = sg2tf.load_network(DATA / pkl)
    check_generator(nets.G_ema, PICKLES[pkl])
    check_discriminator(nets.D, PICKLES[pkl])
    assert nets.G is not None and nets.G is not nets.G_ema


def test_persistent_sources_are_kept_as_text():
    obj, _ = nvlabs_torch.read_torch_pickle((DATA / "torch-ada-cond-clamp-32.pkl").read_bytes())
    stub = obj["G_ema"]
    assert isinstance(stub, nvlabs_torch.PersistentObjectStub)
    assert stub.class_name == "Generator" and isinstance(stub.module_src, str)
    assert stub.init_kwargs["c_dim"] == 5
    assert isinstance(obj["augment_pipe"], nvlabs_torch.PersistentObjectStub)


def _persistent_pickle(meta):
    module = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called
        raise AssertionError

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    sys.modules.setdefault("torch_utils", types.ModuleType("torch_utils"))
    sys.modules["torch_utils.persistence"] = module

    class Obj:
        def __reduce__(self):
            return (_reconstruct_persistent_obj, (meta,))

    return pickle.dumps({"G": Obj(), "D": None, "G_ema": None}, protocol=4)


def test_module_src_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    src = f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n"
    data = _persistent_pickle(
        dict(type="class", version=4, module_src=src, class_name="Generator", state={"_init_kwargs": {}})
    )
    path = tmp_path / "net.pkl"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="not a stylegan2-ada-pytorch Generator"):
        sg2tf.load_network(path)
    assert not marker.exists()


def test_hostile_globals_in_torch_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    data = _persistent_pickle(dict(type="class", version=4, module_src="", class_name="G", state={"x": Evil()}))
    with pytest.raises(safe_pickle.UnsafePickleError, match="refusing to load"):
        nvlabs_torch.load_torch_pickle(data)
    assert not marker.exists()


def test_torch_fp16_pickle_keeps_its_precision():
    """num_fp16_res/conv_clamp of a stylegan2-ada-pytorch snapshot: float16 blocks as
    trained, the official float32 outputs with force_fp32 (test above)."""
    nets = sg2tf.load_network(DATA / "torch-ada-cond-fp16-16.pkl")
    assert nets.G_ema.synthesis.block_dtypes == {4: "float32", 8: "float16", 16: "float16"}
    assert nets.D.block_dtypes == {16: "float16", 8: "float16"}
    assert nets.G_ema.synthesis.conv_clamp == 256 and nets.D.conv_clamp == 256
