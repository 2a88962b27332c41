"""Regenerates tests/data/fixtures/tfrecords with NVlabs StyleGAN2's own `dataset_tool.py`.

Runs the checkout's `create_from_images` (shapes32, from `shapes32-source/*.png`) and
`create_from_hdf5` (labeled32, from `labeled32-source/labeled32.h5` with its `-labels.npy`), both with
their default shuffling, under TensorFlow 2's `tf.compat.v1` (scripts/tf1_compat.py), into `--out`, and
writes `tfrecords-made-by.json` there (repository, commit, commands). With `--check`, compares the
result byte for byte with the committed folders instead of writing them.

Usage:
  python scripts/official_tfrecords.py --stylegan2=/work/ext/stylegan2 --check
  python scripts/official_tfrecords.py --stylegan2=/work/ext/stylegan2 --out=tests/data/fixtures/tfrecords
"""

import os
import shutil
import types

from tf1_compat import dataset_script_main, git_commit, import_tf1

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "fixtures", "tfrecords")


def _dataset_tool(checkout):
    """The checkout's dataset_tool module. numpy 2 removed `ndarray.tostring` (the same bytes as
    `tobytes`), which it calls: the call is renamed while loading; the file is not changed."""
    path = os.path.join(checkout, "dataset_tool.py")
    with open(path, encoding="utf-8-sig") as f:
        source = f.read().replace(".tostring()", ".tobytes()")
    module = types.ModuleType("dataset_tool")
    module.__file__ = path
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def make(checkout, out):
    import_tf1(checkout)
    dataset_tool = _dataset_tool(checkout)

    dataset_tool.create_from_images(os.path.join(out, "shapes32"), os.path.join(FIXTURES, "shapes32-source"), 1)
    h5 = os.path.join(out, "labeled32-source", "labeled32.h5")
    os.makedirs(os.path.dirname(h5))
    for name in ("labeled32.h5", "labeled32-labels.npy"):
        shutil.copy(os.path.join(FIXTURES, "labeled32-source", name), os.path.dirname(h5))
    dataset_tool.create_from_hdf5(os.path.join(out, "labeled32"), h5, 1)
    shutil.rmtree(os.path.dirname(h5))
    return {
        "made_by": "scripts/official_tfrecords.py",
        "repository": "NVlabs/stylegan2",
        "commit": git_commit(checkout),
        "commands": [
            "dataset_tool.py create_from_images shapes32 shapes32-source --shuffle 1",
            "dataset_tool.py create_from_hdf5 labeled32 labeled32-source/labeled32.h5 --shuffle 1",
        ],
    }


def main():
    dataset_script_main(__doc__, make, FIXTURES, ("shapes32", "labeled32"), "tfrecords-made-by.json")


if __name__ == "__main__":
    main()
