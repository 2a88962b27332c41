"""sg2tf-train --resume from a network: the source's architecture (fine-tuning), another configuration
(--transfer=partial), and freezing."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from conftest import DATA

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
    run = train(dict(files, **network, **two_steps, **plain_losses, transfer="partial", freezed=2, freeze_g=16))
    log = open(os.path.join(run, "log.txt")).read()
    for name in ("G", "D", "G_ema"):
        line = next(l for l in log.splitlines() if l.startswith(f"{name}: copied "))
        copied, mismatched = int(line.split()[2]), int(line.split()[4])
        assert copied > 0 and mismatched > 0, line
    assert "G shape mismatch, kept initial value: synthesis/b4/" in log
    assert "frozen variables:" in log

    trained = sg2tf.load_network(os.path.join(run, "network-snapshot-000000.008"))
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


@pytest.fixture(scope="module")
def labeled16(tmp_path_factory):
    from sg2tf.data import synthetic, writer

    path = str(tmp_path_factory.mktemp("data") / "labeled16")
    writer.write_dataset(path, synthetic.synthetic_source(8, resolution=16, seed=0, labels=True), progress=False)
    return path


ADA_COND = "ada-cond-fp16-16.pkl"  # StyleGAN2-ADA TF pickle: 16x16, 4 classes, z/w 16 (tests/data/nvlabs_synth)


def test_fine_tune_dry_run_takes_the_source_architecture(labeled16, capsys):
    """Only --data and --resume: the run builds the pickle's architecture (its README's kwargs),
    conditional on the dataset's labels, and plans to copy every weight."""
    import json

    from sg2tf.training.loop import train

    pkl = str(DATA / "nvlabs_synth" / ADA_COND)
    train(dict(data=labeled16, resume=pkl, dry_run=True, freezed=1))
    text = capsys.readouterr().out
    out = json.loads(text[text.index("\n{") + 1 if not text.startswith("{") else 0 :])  # after any warning lines
    assert (out["z_dim"], out["w_dim"], out["fmap_base"], out["fmap_max"], out["mapping_layers"]) == (16, 16, 64, 8, 2)
    assert (out["c_dim"], out["cond"], out["resolution"]) == (4, True, 16)
    assert (out["g_arch"], out["d_arch"]) == ("skip", "resnet")
    plan = out["transfer"]
    assert plan["mode"] == "same" and plan["G"]["not_copied"] == [] and plan["D"]["not_copied"] == []
    assert plan["G"]["copied"] > 0 and plan["D"]["copied"] > 0
    assert plan["frozen"]["D_layers"] == ["b16/fromrgb"] and plan["frozen"]["D"]


def test_fine_tune_refuses_what_would_change_the_architecture(fixtures_dir, shapes32, labeled16):
    from sg2tf.training.loop import train
    from sg2tf.training.setup import TrainingError

    pkl = str(fixtures_dir / "nvlabs_pkl" / "sg2-f32.pkl")  # 32x32, z/w 64, fmap_max 64, unconditional
    with pytest.raises(TrainingError, match=r"^--fmap_max=128: the source network .* has fmap_max 64; .*=partial"):
        train(dict(data=shapes32, resume=pkl, dry_run=True, fmap_max=128))
    with pytest.raises(TrainingError, match=r"--data=.*stores 16x16 images, the source network .* makes 32x32"):
        train(dict(data=labeled16, resume=pkl, dry_run=True))
    cond = str(DATA / "nvlabs_synth" / ADA_COND)
    with pytest.raises(TrainingError, match=r"--cond=false: .* has cond true"):
        train(dict(data=labeled16, resume=cond, dry_run=True, cond=False))
    with pytest.raises(TrainingError, match=r"--data=.*no labels per image, .* conditioned on 4 classes"):
        train(dict(data=str(_unlabeled16(labeled16)), resume=cond, dry_run=True))
    # The surgery mode builds the flags' networks and lists what it cannot copy.
    train(dict(data=shapes32, resume=pkl, dry_run=True, fmap_max=128, transfer="partial"))


def _unlabeled16(labeled16):
    from sg2tf.data import synthetic, writer

    path = os.path.join(os.path.dirname(labeled16), "unlabeled16")
    if not os.path.exists(path):
        writer.write_dataset(path, synthetic.synthetic_source(8, resolution=16, seed=0), progress=False)
    return path
