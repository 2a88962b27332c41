"""sg2tf-train --resume from an NVlabs pickle into another configuration, and freezing."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

pytestmark = pytest.mark.usefixtures("fast_compiles")


@pytest.fixture(scope="module")
def shapes32(tmp_path_factory):
    from sg2tf.data import synthetic, writer

    path = str(tmp_path_factory.mktemp("data") / "shapes32")
    writer.write_dataset(path, synthetic.synthetic_source(8, resolution=32, seed=0), progress=False)
    return path


def _key(v):
    return v.path.split("/", 1)[1]


@pytest.mark.slow
def test_resume_from_nvlabs_pickle_into_wider_config_with_freezing(fixtures_dir, shapes32, tmp_path):
    import sg2tf
    from sg2tf.training.freeze import freeze_filter_d, freeze_filter_g
    from sg2tf.training.loop import train

    pkl = fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl"
    source = sg2tf.load_network(str(pkl))
    # The pickle: z/w 64, mapping 2, fmap_base 512, fmap_max 64. Here fmap_max 128 widens
    # the 4x4 block (64 -> 128 channels) and so the 8x8 block's first conv and D's last
    # blocks; everything else is copied.
    network = dict(cfg="tiny", z_dim=64, w_dim=64, mapping_layers=2, fmap_base=512, fmap_max=128, mbstd_group=4)
    two_steps = dict(batch=4, kimg=0.008, tick_kimg=0.008, snap=1, grid_seeds=4, seed=0)  # a tick, a snapshot
    plain_losses = dict(aug="noaug", pl_weight=0, gamma="0")
    files = dict(data=str(shapes32), outdir=str(tmp_path), resume=str(pkl))
    run = train(dict(files, **network, **two_steps, **plain_losses, freezed=2, freeze_g=16))
    log = open(os.path.join(run, "log.txt")).read()
    for name in ("G", "D", "G_ema"):
        line = next(l for l in log.splitlines() if l.startswith(f"{name}: copied "))
        copied, mismatched = int(line.split()[2]), int(line.split()[4])
        assert copied > 0 and mismatched > 0, line
    assert "G shape mismatch, kept initial value: synthesis/b4/" in log
    assert "frozen variables:" in log

    trained = sg2tf.load_network(os.path.join(run, "network-snapshot-000000"))
    for net in ("G", "D"):
        before = {_key(v): v.numpy() for v in getattr(source, net).variables}
        after = getattr(trained, net)
        frozen = freeze_filter_g(after, 16) if net == "G" else freeze_filter_d(after, 2)
        assert frozen
        same_shape = {_key(v) for v in after.variables if _key(v) in before and before[_key(v)].shape == tuple(v.shape)}
        frozen_copied = [v for v in after.variables if v.path in frozen and _key(v) in same_shape]
        assert frozen_copied
        for v in frozen_copied:  # frozen: still the pickle's values after two steps
            np.testing.assert_array_equal(v.numpy(), before[_key(v)], err_msg=v.path)
        free = [v for v in after.trainable_variables if v.path not in frozen and _key(v) in same_shape]
        moved = [v for v in free if not np.array_equal(v.numpy(), before[_key(v)])]
        assert free and len(moved) > len(free) // 2, (net, [v.path for v in free if v not in moved])
