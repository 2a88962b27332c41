"""The ADA augmentation pipeline (Karras et al. 2020), differentiable, for NHWC batches.

It computes what stylegan2-ada-pytorch's `AugmentPipe` computes (step for step: the same
matrices, sym6-wavelet 2x supersampled geometric resampling with its reflect padding and
bilinear sampling with zeros outside, the same four-band filter bank for `filter`), and the
training parity tests replay recorded official augmentations through it.

Random draws. Each transform draws, per sample, the official values: a "gate" uniform (the
transform is applied where `gate < strength * p`) and its value(s) (uniforms or normals,
as the original draws them). `params(uniforms, seed, shape)` makes these from a
`[N, NUM_UNIFORMS]` tensor of uniforms (normals by the inverse CDF, pixel noise from the
stateless `seed`), so a batch is augmented identically however it is split across replicas;
`__call__(..., params=)` takes them directly (the seam the parity tests use). Keys and shapes
of `params` (N = batch): `<t>_gate [N]` for t in xflip, rotate90, xint, scale, aniso, xfrac,
brightness, contrast, lumaflip, hue, saturation, noise, cutout; `rotate_gate [N, 2]` (pre-,
post-rotation); `imgfilter_gate [N, 4]`; values `xflip_value, rotate90_value, lumaflip_value,
hue_value [N]` (uniforms), `scale_value, aniso_value, brightness_value, contrast_value,
saturation_value, noise_value [N]` (normals), `xint_value [N, 2]` (uniforms), `xfrac_value
[N, 2]` (normals), `rotate_value [N, 2]` (uniforms), `imgfilter_value [N, 4]` (normals),
`noise_pixels [N, H, W, C]` (normals), `cutout_center [N, 2]` (uniforms, x then y).

Groups, as the `--augpipe` letters: b = blit (x-flip, 90-degree rotation, integer
translation), g = geom (isotropic scale, rotation, anisotropic scale, fractional
translation), c = color (brightness, contrast, luma flip, hue, saturation),
f = filter (per-band gain in four frequency bands), n = additive noise, c (last) = cutout.
"""

import numpy as np
import tensorflow as tf

from sg2tf.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

AUGPIPES = {
    "blit": dict(xflip=1, rotate90=1, xint=1),
    "geom": dict(scale=1, rotate=1, aniso=1, xfrac=1),
    "color": dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "filter": dict(imgfilter=1),
    "noise": dict(noise=1),
    "cutout": dict(cutout=1),
    "bg": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1),
}
AUGPIPES["bgc"] = dict(AUGPIPES["bg"], **AUGPIPES["color"])
AUGPIPES["bgcf"] = dict(AUGPIPES["bgc"], imgfilter=1)
AUGPIPES["bgcfn"] = dict(AUGPIPES["bgcf"], noise=1)
AUGPIPES["bgcfnc"] = dict(AUGPIPES["bgcfn"], cutout=1)

# Where each transform's uniforms live in the per-sample random vector: the gate first, then
# the value(s).
_SLOTS = {}
for _name, _n in (
    ("xflip", 2),
    ("rotate90", 2),
    ("xint", 3),
    ("scale", 2),
    ("prerot", 2),
    ("aniso", 2),
    ("postrot", 2),
    ("xfrac", 3),
    ("brightness", 2),
    ("contrast", 2),
    ("lumaflip", 2),
    ("hue", 2),
    ("saturation", 2),
    ("imgfilter", 8),
    ("noise", 2),
    ("cutout", 3),
):
    _SLOTS[_name] = (sum(n for _, n in _SLOTS.values()), _n)
NUM_UNIFORMS = sum(n for _, n in _SLOTS.values())

# Orthonormal wavelet low-pass filters (decomposition taps as PyWavelets lists them):
# sym6 for the geometric resampling, sym2 (= db2) for the filter bank.
SYM6 = [
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
]
SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
# Expected power of the four filter bands (a 1/f spectrum); a band gain is normalised by it.
_BAND_POWER = np.array([10, 1, 1, 1], np.float32) / 13
_LUMA = (np.array([1, 1, 1, 0]) / np.sqrt(3.0)).astype(np.float32)


def filter_bank(lowpass=SYM2, bands=4):
    """`[bands, taps]` float32: band i (0 = lowest) of a dyadic filter bank built from the
    half-band pair `H(z) H(z^-1) / 2` and `H(-z) H(-z^-1) / 2` of an orthonormal low-pass `H`."""
    lo = np.asarray(lowpass, np.float64)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(bands, 1)
    for i in range(1, bands):
        up = np.zeros([bands, bank.shape[1] * 2 - 1])
        up[:, ::2] = bank  # Upsample the previous bank by 2 (zeros in between).
        bank = np.stack([np.convolve(row, lo2) for row in up])
        mid = (bank.shape[1] - hi2.size) // 2
        bank[i, mid : mid + hi2.size] += hi2
    return bank.astype(np.float32)


def _normal(u):
    return tf.math.ndtri(tf.clip_by_value(u, 1e-6, 1 - 1e-6))


def _mat(rows):
    """Stacks nested lists of `[N]` tensors (or Python numbers) into `[N, R, C]`."""
    ref = next(x for r in rows for x in r if isinstance(x, tf.Tensor))
    return tf.stack(
        [
            tf.stack([x if isinstance(x, tf.Tensor) else tf.fill(tf.shape(ref), float(x)) for x in r], axis=-1)
            for r in rows
        ],
        axis=-2,
    )


def _translate(tx, ty):
    return _mat([[1, 0, tx], [0, 1, ty], [0, 0, 1]])


def _scale(sx, sy):
    return _mat([[sx, 0, 0], [0, sy, 0], [0, 0, 1]])


def _rotate(theta):
    c, s = tf.cos(theta), tf.sin(theta)
    return _mat([[c, tf.sin(-theta), 0], [s, c, 0], [0, 0, 1]])


def _const3(m):
    return tf.constant(np.asarray(m, np.float32))


class AugmentPipe:
    """Differentiable augmentation with probability `p` (stylegan2-ada-pytorch's `AugmentPipe`).

    Args:
      augpipe: a name from `AUGPIPES` or a dict of transform strengths (0 disables,
        1 = as in the paper).
      xint_max, scale_std, rotate_max, aniso_std, xfrac_std, brightness_std,
      contrast_std, hue_max, saturation_std, imgfilter_std, noise_std, cutout_size:
        transform ranges (the paper's defaults).
      imgfilter_bands: probability multipliers of the four filter bands.

    Call: `pipe(images [N,H,W,C] float, p, uniforms [N, NUM_UNIFORMS], seed [2] int)`, or
    `pipe(images, p, params=...)` with the draws of `params()` (see the module docstring).
    """

    num_uniforms = NUM_UNIFORMS

    def __init__(
        self,
        augpipe="bgc",
        xint_max=0.125,
        scale_std=0.2,
        rotate_max=1.0,
        aniso_std=0.2,
        xfrac_std=0.125,
        brightness_std=0.2,
        contrast_std=0.5,
        hue_max=1.0,
        saturation_std=1.0,
        imgfilter_std=1.0,
        noise_std=0.1,
        cutout_size=0.5,
        imgfilter_bands=(1, 1, 1, 1),
    ):
        if isinstance(augpipe, str):
            if augpipe not in AUGPIPES:
                raise ValueError(f"unknown augpipe {augpipe!r}; choose from {sorted(AUGPIPES)}")
            augpipe = AUGPIPES[augpipe]
        known = {
            "xflip",
            "rotate90",
            "xint",
            "scale",
            "rotate",
            "aniso",
            "xfrac",
            "brightness",
            "contrast",
            "lumaflip",
            "hue",
            "saturation",
            "imgfilter",
            "noise",
            "cutout",
        }
        unknown = sorted(set(augpipe) - known)
        if unknown:
            raise ValueError(f"augpipe: unknown transforms {unknown}; known: {sorted(known)}")
        if len(imgfilter_bands) != 4:
            raise ValueError(f"imgfilter_bands needs 4 values, got {list(imgfilter_bands)}")
        self.strength = {k: float(v) for k, v in augpipe.items()}
        self.xint_max, self.scale_std, self.rotate_max = xint_max, scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.imgfilter_std, self.noise_std, self.cutout_size = imgfilter_std, noise_std, cutout_size
        self.imgfilter_bands = [float(b) for b in imgfilter_bands]
        self.geom_filter = setup_filter(SYM6)  # Separable, 12 taps.
        self.bank = filter_bank(SYM2)

    def _on(self, name):
        return self.strength.get(name, 0) > 0

    # ------------------------------------------------------------------ draws
    def params(self, uniforms, seed, shape):
        """The official draws (see the module docstring) from `[N, NUM_UNIFORMS]` uniforms and
        a stateless `seed` (pixel noise); `shape` is the images' `[N, H, W, C]`."""
        u = tf.cast(uniforms, tf.float32)

        def slot(name, i=0):
            return u[:, _SLOTS[name][0] + i]

        out = {}
        for name in ("xflip", "rotate90", "lumaflip", "hue"):
            out[name + "_gate"], out[name + "_value"] = slot(name), slot(name, 1)
        for name in ("scale", "aniso", "brightness", "contrast", "saturation", "noise"):
            out[name + "_gate"], out[name + "_value"] = slot(name), _normal(slot(name, 1))
        out["xint_gate"], out["xint_value"] = slot("xint"), tf.stack([slot("xint", 1), slot("xint", 2)], 1)
        out["xfrac_gate"] = slot("xfrac")
        out["xfrac_value"] = _normal(tf.stack([slot("xfrac", 1), slot("xfrac", 2)], 1))
        out["rotate_gate"] = tf.stack([slot("prerot"), slot("postrot")], 1)
        out["rotate_value"] = tf.stack([slot("prerot", 1), slot("postrot", 1)], 1)
        out["imgfilter_gate"] = tf.stack([slot("imgfilter", i) for i in range(4)], 1)
        out["imgfilter_value"] = _normal(tf.stack([slot("imgfilter", 4 + i) for i in range(4)], 1))
        out["cutout_gate"] = slot("cutout")
        out["cutout_center"] = tf.stack([slot("cutout", 1), slot("cutout", 2)], 1)
        if self._on("noise"):
            out["noise_pixels"] = tf.random.stateless_normal(shape, seed)
        return out

    # ------------------------------------------------------------------ geometry
    def geometric_matrix(self, d, p, n, width, height):
        """`[N, 3, 3]` inverse transform (output pixel -> input pixel, centred pixel units), or
        None when no geometric transform is enabled."""
        G = tf.eye(3, batch_shape=[n])
        used = False

        def gated(name, value, default, gate=None):
            gate = d[name + "_gate"] if gate is None else gate
            return tf.where(gate < self.strength[name] * p, value, default)

        if self._on("xflip"):
            i = gated("xflip", tf.floor(d["xflip_value"] * 2), 0.0)
            G, used = G @ _scale(1 / (1 - 2 * i), 1), True
        if self._on("rotate90"):
            i = gated("rotate90", tf.floor(d["rotate90_value"] * 4), 0.0)
            G, used = G @ _rotate(np.pi / 2 * i), True
        if self._on("xint"):
            t = (d["xint_value"] * 2 - 1) * self.xint_max
            t = tf.where((d["xint_gate"] < self.strength["xint"] * p)[:, None], t, 0.0)
            G, used = G @ _translate(-tf.round(t[:, 0] * width), -tf.round(t[:, 1] * height)), True
        if self._on("scale"):
            s = gated("scale", tf.pow(2.0, d["scale_value"] * self.scale_std), 1.0)
            G, used = G @ _scale(1 / s, 1 / s), True
        p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - self.strength.get("rotate", 0) * p, 0.0, 1.0))
        if self._on("rotate"):
            theta = (d["rotate_value"][:, 0] * 2 - 1) * np.pi * self.rotate_max
            theta = tf.where(d["rotate_gate"][:, 0] < p_rot, theta, 0.0)
            G, used = G @ _rotate(theta), True
        if self._on("aniso"):
            s = gated("aniso", tf.pow(2.0, d["aniso_value"] * self.aniso_std), 1.0)
            G, used = G @ _scale(1 / s, s), True
        if self._on("rotate"):
            theta = (d["rotate_value"][:, 1] * 2 - 1) * np.pi * self.rotate_max
            theta = tf.where(d["rotate_gate"][:, 1] < p_rot, theta, 0.0)
            G = G @ _rotate(theta)
        if self._on("xfrac"):
            t = d["xfrac_value"] * self.xfrac_std
            t = tf.where((d["xfrac_gate"] < self.strength["xfrac"] * p)[:, None], t, 0.0)
            G, used = G @ _translate(-t[:, 0] * width, -t[:, 1] * height), True
        return G if used else None

    def apply_geometric(self, images, G):
        """Resamples `images [N,H,W,C]` through the inverse transforms `G [N,3,3]`.

        As the original: reflect padding just large enough for the whole batch (at most
        the image size less one), 2x upsampling with the sym6 filter, bilinear sampling with
        zeros outside the padded image, sym6 downsampling. The padding depends on the
        batch; it is emulated with static shapes (the largest padding, masked back to the
        batch's own) so that the function traces once.
        """
        h, w, c = images.shape[1], images.shape[2], images.shape[3]
        n = tf.shape(images)[0]
        taps = len(SYM6)
        hz_pad = taps // 4
        cx, cy = (w - 1) / 2, (h - 1) / 2
        corners = _const3([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]])  # [4, xyz]
        cp = tf.einsum("nij,kj->nik", G, corners)  # [N, xyz, 4]
        xy = tf.reshape(tf.transpose(cp[:, :2, :], [1, 0, 2]), [2, -1])
        margin = tf.reduce_max(tf.concat([-xy, xy], 0), axis=1)  # [x0, y0, x1, y1]
        margin = margin + tf.constant([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2, tf.float32)
        margin = tf.minimum(tf.maximum(margin, 0.0), tf.constant([w - 1, h - 1] * 2, tf.float32))
        m = tf.cast(tf.math.ceil(margin), tf.int32)
        mx0, my0, mx1, my1 = m[0], m[1], m[2], m[3]

        # Reflect-pad by the largest possible margin, then zero what lies outside the batch's
        # own padded image (the original's upsampling sees zeros there).
        px, py = w - 1, h - 1
        x = tf.pad(images, [[0, 0], [py, py], [px, px], [0, 0]], mode="REFLECT")
        ys = tf.range(h + 2 * py)[:, None]
        xs = tf.range(w + 2 * px)[None, :]
        inside = (ys >= py - my0) & (ys < py + h + my1) & (xs >= px - mx0) & (xs < px + w + mx1)
        x = x * tf.cast(inside, x.dtype)[None, :, :, None]
        x = upsample2d(x, self.geom_filter)  # [N, 2(H+2py), 2(W+2px), C]
        # The original's padded and upsampled image, as a window of x.
        off_x, off_y = 2 * (px - mx0), 2 * (py - my0)
        up_w = tf.cast(2 * (w + mx0 + mx1), tf.float32)
        up_h = tf.cast(2 * (h + my0 + my1), tf.float32)

        f = lambda v: tf.cast(v, tf.float32)  # noqa: E731
        G = _translate(f(mx0 - mx1) / 2 * tf.ones([n]), f(my0 - my1) / 2 * tf.ones([n])) @ G
        G = _const3([[2, 0, 0], [0, 2, 0], [0, 0, 1]]) @ G @ _const3([[0.5, 0, 0], [0, 0.5, 0], [0, 0, 1]])
        G = _const3([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]]) @ G @ _const3([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
        out_h, out_w = (h + hz_pad * 2) * 2, (w + hz_pad * 2) * 2
        one = tf.ones([n])
        G = _scale(2 / up_w * one, 2 / up_h * one) @ G @ _const3([[out_w / 2, 0, 0], [0, out_h / 2, 0], [0, 0, 1]])
        # affine_grid(align_corners=False): normalised output pixel centres, mapped by G[:2].
        gx = (2 * np.arange(out_w, dtype=np.float32) + 1) / out_w - 1
        gy = (2 * np.arange(out_h, dtype=np.float32) + 1) / out_h - 1
        base = np.stack(list(np.meshgrid(gx, gy, indexing="xy")) + [np.ones([out_h, out_w], np.float32)], -1)
        grid = tf.einsum("nij,hwj->nhwi", G[:, :2, :], tf.constant(base))  # [N, out_h, out_w, 2]
        # grid_sample(bilinear, zeros, align_corners=False) in the original's frame.
        ix = ((grid[..., 0] + 1) * up_w - 1) / 2
        iy = ((grid[..., 1] + 1) * up_h - 1) / 2
        x = _bilinear_zeros(x, ix, iy, up_w, up_h, off_x, off_y)
        x = downsample2d(x, self.geom_filter, padding=-hz_pad * 2, flip_filter=True)
        return tf.ensure_shape(x, [None, h, w, c])

    # ------------------------------------------------------------------ color
    def color_matrix(self, d, p, n, channels):
        """`[N, 4, 4]` homogeneous color transform, or None when no color transform is enabled."""
        eye = tf.eye(4, batch_shape=[n])
        C = eye
        used = False

        def gate(name):
            return d[name + "_gate"] < self.strength[name] * p

        v = tf.constant(_LUMA)
        vv = tf.tensordot(v, v, axes=0)
        if self._on("brightness"):
            b = tf.where(gate("brightness"), d["brightness_value"] * self.brightness_std, 0.0)
            C, used = _mat([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]]) @ C, True
        if self._on("contrast"):
            s = tf.where(gate("contrast"), tf.pow(2.0, d["contrast_value"] * self.contrast_std), 1.0)
            C, used = _mat([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]]) @ C, True
        if self._on("lumaflip"):
            i = tf.where(gate("lumaflip"), tf.floor(d["lumaflip_value"] * 2), 0.0)
            C, used = (tf.eye(4) - 2 * vv * i[:, None, None]) @ C, True
        if self._on("hue") and channels > 1:
            theta = tf.where(gate("hue"), (d["hue_value"] * 2 - 1) * np.pi * self.hue_max, 0.0)
            C, used = _rotate3(_LUMA, theta) @ C, True
        if self._on("saturation") and channels > 1:
            s = tf.where(gate("saturation"), tf.pow(2.0, d["saturation_value"] * self.saturation_std), 1.0)
            C, used = (vv + (tf.eye(4) - vv) * s[:, None, None]) @ C, True
        return C if used else None

    # ------------------------------------------------------------------ filter
    def filter_gains(self, d, p):
        """`[N, 4]` band gains: each band's amplification, power-normalised one at a time."""
        n = tf.shape(d["imgfilter_gate"])[0]
        g = tf.ones([n, 4])
        power = tf.constant(_BAND_POWER)
        for i, band in enumerate(self.imgfilter_bands):
            t_i = tf.pow(2.0, d["imgfilter_value"][:, i] * self.imgfilter_std)
            t_i = tf.where(d["imgfilter_gate"][:, i] < self.strength["imgfilter"] * p * band, t_i, 1.0)
            t = tf.concat([tf.ones([n, i]), t_i[:, None], tf.ones([n, 3 - i])], axis=1)
            t = t / tf.sqrt(tf.reduce_sum(power * tf.square(t), axis=-1, keepdims=True))
            g = g * t
        return g

    def apply_filter(self, images, gains):
        """Filters each image with `gains @ bank` (separable, reflect-padded)."""
        h, w, c = images.shape[1], images.shape[2], images.shape[3]
        n = tf.shape(images)[0]
        taps = self.bank.shape[1]
        pad = taps // 2
        kernel = gains @ tf.constant(self.bank)  # [N, taps]
        kernel = tf.reshape(tf.tile(kernel[:, None, :], [1, c, 1]), [-1, taps])  # [N*C, taps]
        # Images as one batch of N*C channels, for per-image depthwise filters.
        x = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, -1])
        x = _reflect_pad(x, pad, pad)
        x = tf.nn.depthwise_conv2d(x, tf.transpose(kernel)[None, :, :, None], [1, 1, 1, 1], "VALID")
        x = tf.nn.depthwise_conv2d(x, tf.transpose(kernel)[:, None, :, None], [1, 1, 1, 1], "VALID")
        return tf.transpose(tf.reshape(x, [h, w, n, c]), [2, 0, 1, 3])

    # ------------------------------------------------------------------ the pipeline
    def __call__(self, images, p, uniforms=None, seed=None, params=None):
        dtype = images.dtype
        x = tf.cast(images, tf.float32)
        p = tf.cast(p, tf.float32)
        n, h, w, c = tf.shape(x)[0], x.shape[1], x.shape[2], x.shape[3]
        if params is None:
            if uniforms is None:
                raise ValueError("AugmentPipe: give either uniforms (and seed) or params")
            params = self.params(uniforms, seed if seed is not None else tf.zeros([2], tf.int64), tf.shape(x))
        d = {k: tf.cast(v, tf.float32) for k, v in params.items()}
        G = self.geometric_matrix(d, p, n, w, h)
        if G is not None:
            x = self.apply_geometric(x, G)
        C = self.color_matrix(d, p, n, c - 1 if c in (2, 4) else c)  # the colour channels
        if C is not None:
            # An alpha channel (RGBA, gray+alpha: sg2tf's extension) is not a colour: it passes unchanged.
            colour, alpha = (x[..., : c - 1], x[..., c - 1 :]) if c in (2, 4) else (x, None)
            if c in (3, 4):
                colour = tf.einsum("nij,nhwj->nhwi", C[:, :3, :3], colour) + C[:, None, None, :3, 3]
            elif c in (1, 2):
                m = tf.reduce_mean(C[:, :3, :], axis=1)  # [N, 4]
                colour = colour * tf.reduce_sum(m[:, :3], axis=1)[:, None, None, None] + m[:, None, None, None, 3]
            else:
                raise ValueError(f"color augmentation needs 1 to 4 channels (gray, RGB, with alpha), got {c}")
            x = colour if alpha is None else tf.concat([colour, alpha], axis=-1)
        if self._on("imgfilter"):
            x = self.apply_filter(x, self.filter_gains(d, p))
        if self._on("noise"):
            sigma = tf.abs(d["noise_value"]) * self.noise_std
            sigma = tf.where(d["noise_gate"] < self.strength["noise"] * p, sigma, 0.0)
            x = x + d["noise_pixels"] * sigma[:, None, None, None]
        if self._on("cutout"):
            size = tf.where(d["cutout_gate"] < self.strength["cutout"] * p, self.cutout_size, 0.0)
            center = d["cutout_center"]
            xs = (tf.range(w, dtype=tf.float32) + 0.5) / w
            ys = (tf.range(h, dtype=tf.float32) + 0.5) / h
            out_x = tf.abs(xs[None, :] - center[:, 0:1]) >= size[:, None] / 2  # [N, W]
            out_y = tf.abs(ys[None, :] - center[:, 1:2]) >= size[:, None] / 2  # [N, H]
            mask = tf.logical_or(out_x[:, None, :], out_y[:, :, None])
            x = x * tf.cast(mask, tf.float32)[..., None]
        return tf.cast(x, dtype)


def _rotate3(axis, theta):
    x, y, z = (float(a) for a in axis[:3])
    c, s = tf.cos(theta), tf.sin(theta)
    cc = 1 - c
    return _mat(
        [
            [x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0],
            [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0],
            [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0],
            [0, 0, 0, 1],
        ]
    )


def _reflect_pad(x, py, px):
    """Reflect padding of `[N,H,W,C]`; padding beyond the image size (where the original's
    `reflect` stops with an error: its filter bank needs 22 px) reflects again."""
    while py > 0 or px > 0:
        sy, sx = min(py, x.shape[1] - 1), min(px, x.shape[2] - 1)
        x = tf.pad(x, [[0, 0], [sy, sy], [sx, sx], [0, 0]], mode="REFLECT")
        py, px = py - sy, px - sx
    return x


def _bilinear_zeros(img, ix, iy, width, height, off_x, off_y):
    """Bilinear samples of an image at pixel coordinates `(ix, iy) [N,h,w]` of a window of
    `img [N,H,W,C]` that starts at `(off_x, off_y)` and is `width x height` big; taps
    outside the window read zeros."""
    x0, y0 = tf.floor(ix), tf.floor(iy)
    fx, fy = (ix - x0)[..., None], (iy - y0)[..., None]
    H, W = tf.shape(img)[1], tf.shape(img)[2]

    def tap(yy, xx):
        valid = (xx >= 0) & (xx <= width - 1) & (yy >= 0) & (yy <= height - 1)
        xi = tf.clip_by_value(tf.cast(xx, tf.int32) + off_x, 0, W - 1)
        yi = tf.clip_by_value(tf.cast(yy, tf.int32) + off_y, 0, H - 1)
        v = tf.gather_nd(img, tf.stack([yi, xi], axis=-1), batch_dims=1)
        return v * tf.cast(valid, img.dtype)[..., None]

    return (tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx) * (1 - fy) + (
        tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    ) * fy
