"""sg2tf-style-mixing: the ws swap, the table layout, the program and its errors."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sg2tf.tools import style_mixing as sm


def test_mix_ws_swaps_only_the_chosen_layers():
    rng = np.random.default_rng(0)
    row_ws, col_ws = rng.normal(size=(2, 6, 4)), rng.normal(size=(3, 6, 4))
    mixed = sm.mix_ws(row_ws, col_ws, [0, 1, 4])
    assert mixed.shape == (2, 3, 6, 4)
    for i in range(2):
        for j in range(3):
            np.testing.assert_array_equal(mixed[i, j, [0, 1, 4]], col_ws[j, [0, 1, 4]])
            np.testing.assert_array_equal(mixed[i, j, [2, 3, 5]], row_ws[i, [2, 3, 5]])


def test_parse_styles_checks_range():
    assert sm.parse_styles("0-2,5", 8) == [0, 1, 2, 5]
    with pytest.raises(ValueError, match="8 style inputs"):
        sm.parse_styles("0-8", 8)
    with pytest.raises(ValueError, match="--styles"):
        sm.parse_styles("a", 8)


def test_table_matches_direct_synthesis(f32_G):
    rows, cols = [1, 2], [3, 1]
    row_img, col_img, mixed = sm.style_mixing(f32_G, rows, cols, [0, 1, 2], truncation_psi=0.7, batch_size=3)
    assert mixed.shape == (2, 2, 32, 32, 3) and mixed.dtype == np.uint8
    ws = sm.seeds_to_ws(f32_G, [1, 2, 3], 0.7)
    np.testing.assert_array_equal(row_img, sm.synthesize(f32_G, ws[:2]))
    expect = ws[1].copy()
    expect[:3] = ws[2][:3]  # row seed 2, column seed 3, styles 0-2
    np.testing.assert_allclose(mixed[1, 0].astype(int), sm.synthesize(f32_G, expect[None])[0], atol=1)
    # Mixing a seed with itself changes nothing.
    np.testing.assert_allclose(mixed[0, 1].astype(int), row_img[0].astype(int), atol=1)
    # All styles from the column = the column image.
    _, col_all, mixed_all = sm.style_mixing(f32_G, [2], [3], list(range(f32_G.num_ws)))
    np.testing.assert_allclose(mixed_all[0, 0].astype(int), col_all[0].astype(int), atol=1)
    assert np.abs(mixed[1, 0].astype(int) - row_img[1].astype(int)).max() > 0
    grid = sm.table_grid(row_img, col_img, mixed)
    assert grid.shape == (3 * 32, 3 * 32, 3)
    assert not grid[:32, :32].any()
    np.testing.assert_array_equal(grid[32:64, 64:96], mixed[0, 1])
    np.testing.assert_array_equal(grid[:32, 32:64], col_img[0])


def test_conditional_mismatch(f32_G):
    with pytest.raises(ValueError, match="unconditional"):
        sm.style_mixing(f32_G, [0], [1], [0], class_idx=3)


def test_program(f32_pkl, tmp_path):
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "sg2tf.cli.style_mixing",
        f"--network={f32_pkl}",
        "--rows=0,1",
        "--cols=5-7",
        "--styles=0-3",
        "--trunc=0.5",
        f"--outdir={out}",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert Image.open(out / "grid.png").size == (4 * 32, 3 * 32)
    assert (out / "1-7.png").exists()


def test_seeded_noise_matches_sg2tf_generate(f32_G):
    from sg2tf import sampling

    rows, cols = [4, 5], [6]
    row_img, col_img, mixed = sm.style_mixing(f32_G, rows, cols, [0, 1], truncation_psi=0.7, noise_mode="seeded")
    # The headers are sg2tf-generate --noise_mode=seeded's images of their seeds.
    generated = np.concatenate([i for _, i in sampling.generate_from_seeds(f32_G, [4, 5, 6], 0.7, noise_mode="seeded")])
    np.testing.assert_allclose(row_img.astype(int), generated[:2].astype(int), atol=1)
    np.testing.assert_allclose(col_img.astype(int), generated[2:].astype(int), atol=1)
    # A cell takes its row seed's noise: all styles from the column = the column's ws with row 5's noise.
    _, _, all_styles = sm.style_mixing(f32_G, [5], [6], list(range(f32_G.num_ws)), 0.7, noise_mode="seeded")
    ws6 = sm.seeds_to_ws(f32_G, [6], 0.7)
    noise5 = sampling.seeded_inputs(f32_G, [5])[1]
    np.testing.assert_allclose(all_styles[0, 0].astype(int), sm.synthesize(f32_G, ws6, noise=noise5)[0], atol=1)
    assert np.abs(all_styles[0, 0].astype(int) - col_img[0].astype(int)).max() > 0  # the noise shows
    assert np.abs(mixed[0, 0].astype(int) - sm.style_mixing(f32_G, rows, cols, [0, 1], 0.7)[2][0, 0]).max() > 0
