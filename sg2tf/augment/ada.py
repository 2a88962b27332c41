"""The ADA augmentation pipeline (Karras et al. 2020), differentiable, for NHWC batches.

Each transform is applied to each image independently with probability `p` (times the
transform's own strength multiplier). All random choices come from a `[N, NUM_UNIFORMS]`
tensor of uniforms supplied by the caller (plus a stateless seed for pixel noise), so a
batch is augmented identically however it is split across replicas.

Groups, as the `--augpipe` letters: b = blit (x-flip, 90-degree rotation, integer
translation), g = geom (isotropic scale, rotation, anisotropic scale, fractional
translation), c = color (brightness, contrast, luma flip, hue, saturation),
f = filter (per-band gain in four frequency bands), n = additive noise, c (last) = cutout.

Geometric transforms are one affine map per image, applied by bilinear resampling of
a 2x-upsampled, reflect-padded image, then filtered back down (sg2tf.ops.upfirdn2d), so
gradients flow to the input pixels.
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
    "bgc": dict(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1, brightness=1,
                contrast=1, lumaflip=1, hue=1, saturation=1),
}
AUGPIPES["bgcf"] = dict(AUGPIPES["bgc"], imgfilter=1)
AUGPIPES["bgcfn"] = dict(AUGPIPES["bgcf"], noise=1)
AUGPIPES["bgcfnc"] = dict(AUGPIPES["bgcfn"], cutout=1)

# Where each transform's uniforms live in the per-sample random vector.
_SLOTS = {}
for _name, _n in (("xflip", 2), ("rotate90", 2), ("xint", 3), ("scale", 2), ("prerot", 2),
                  ("aniso", 2), ("postrot", 2), ("xfrac", 3), ("brightness", 2),
                  ("contrast", 2), ("lumaflip", 2), ("hue", 2), ("saturation", 2),
                  ("imgfilter", 8), ("noise", 2), ("cutout", 3)):
    _SLOTS[_name] = (sum(n for _, n in _SLOTS.values()), _n)
NUM_UNIFORMS = sum(n for _, n in _SLOTS.values())

_LUMA = (np.array([1, 1, 1, 0]) / np.sqrt(3.0)).astype(np.float32)


def _exp2(x):
    return tf.pow(2.0, x)


def _normal(u):
    return tf.math.ndtri(tf.clip_by_value(u, 1e-6, 1 - 1e-6))


def _eye(n, size=3):
    return tf.eye(size, batch_shape=[n])


def _mat(rows):
    """Stacks nested lists of `[N]` tensors into `[N, R, C]`."""
    return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)


def _translate(tx, ty):
    o, z = tf.ones_like(tx), tf.zeros_like(tx)
    return _mat([[o, z, tx], [z, o, ty], [z, z, o]])


def _scale(sx, sy):
    o, z = tf.ones_like(sx), tf.zeros_like(sx)
    return _mat([[sx, z, z], [z, sy, z], [z, z, o]])


def _rotate(theta):
    c, s = tf.cos(theta), tf.sin(theta)
    o, z = tf.ones_like(theta), tf.zeros_like(theta)
    return _mat([[c, -s, z], [s, c, z], [z, z, o]])


def _translate3(v):
    o, z = tf.ones_like(v[:, 0]), tf.zeros_like(v[:, 0])
    return _mat([[o, z, z, v[:, 0]], [z, o, z, v[:, 1]], [z, z, o, v[:, 2]], [z, z, z, o]])


def _scale3(s):
    o, z = tf.ones_like(s), tf.zeros_like(s)
    return _mat([[s, z, z, z], [z, s, z, z], [z, z, s, z], [z, z, z, o]])


def _rotate3(axis, theta):
    a = tf.constant(axis[:3], tf.float32)
    x, y, zz = a[0], a[1], a[2]
    c, s = tf.cos(theta), tf.sin(theta)
    cc = 1 - c
    o, z = tf.ones_like(theta), tf.zeros_like(theta)
    return _mat([[x * x * cc + c, x * y * cc - zz * s, x * zz * cc + y * s, z],
                 [y * x * cc + zz * s, y * y * cc + c, y * zz * cc - x * s, z],
                 [zz * x * cc - y * s, zz * y * cc + x * s, zz * zz * cc + c, z],
                 [z, z, z, o]])


def _bilinear_sample(img, coords):
    """Samples `img [N,H,W,C]` at pixel coordinates `coords [N,h,w,2]` (x, y), clamped at edges."""
    h, w = tf.shape(img)[1], tf.shape(img)[2]
    x, y = coords[..., 0], coords[..., 1]
    x0, y0 = tf.floor(x), tf.floor(y)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    wf, hf = tf.cast(w - 1, tf.float32), tf.cast(h - 1, tf.float32)

    def gather(yy, xx):
        xx = tf.cast(tf.clip_by_value(xx, 0.0, wf), tf.int32)
        yy = tf.cast(tf.clip_by_value(yy, 0.0, hf), tf.int32)
        return tf.gather_nd(img, tf.stack([yy, xx], axis=-1), batch_dims=1)

    a, b = gather(y0, x0), gather(y0, x0 + 1)
    c, d = gather(y0 + 1, x0), gather(y0 + 1, x0 + 1)
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


class AugmentPipe:
    """Differentiable augmentation with probability `p`.

    Args:
      augpipe: a name from `AUGPIPES` or a dict of transform strengths (0 disables,
        1 = as in the paper).
      xint_max, scale_std, rotate_max, aniso_std, xfrac_std, brightness_std,
      contrast_std, hue_max, saturation_std, imgfilter_std, noise_std, cutout_size:
        transform ranges (the paper's defaults).

    Call: `pipe(images [N,H,W,C] float, p, uniforms [N, NUM_UNIFORMS], seed [2] int)`.
    """

    num_uniforms = NUM_UNIFORMS

    def __init__(self, augpipe="bgc", xint_max=0.125, scale_std=0.2, rotate_max=1.0,
                 aniso_std=0.2, xfrac_std=0.125, brightness_std=0.2, contrast_std=0.5,
                 hue_max=1.0, saturation_std=1.0, imgfilter_std=1.0, noise_std=0.1,
                 cutout_size=0.5):
        if isinstance(augpipe, str):
            if augpipe not in AUGPIPES:
                raise ValueError(f"unknown augpipe {augpipe!r}; choose from {sorted(AUGPIPES)}")
            augpipe = AUGPIPES[augpipe]
        self.strength = {k: float(v) for k, v in augpipe.items()}
        self.xint_max, self.scale_std, self.rotate_max = xint_max, scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.imgfilter_std, self.noise_std, self.cutout_size = imgfilter_std, noise_std, cutout_size
        self.up_filter = setup_filter([1, 3, 3, 1])

    def _on(self, name):
        return self.strength.get(name, 0) > 0

    def _gate(self, u, name, p, slot=None):
        start, _ = _SLOTS[slot or name]
        return u[:, start] < p * self.strength.get(name, 0)

    def _u(self, u, slot, i):
        return u[:, _SLOTS[slot][0] + 1 + i]

    def geometric_matrix(self, u, p):
        """`[N, 3, 3]` matrix mapping output pixel coordinates (centred, in units of the image
        size) to input coordinates, or None if no geometric transform is enabled."""
        n = tf.shape(u)[0]
        G = _eye(n)
        used = False
        one = tf.ones([n])
        if self._on("xflip"):
            flip = tf.where(self._gate(u, "xflip", p), tf.floor(self._u(u, "xflip", 0) * 2), 0.0)
            G = G @ _scale(1 - 2 * flip, one)
            used = True
        if self._on("rotate90"):
            k = tf.where(self._gate(u, "rotate90", p), tf.floor(self._u(u, "rotate90", 0) * 4), 0.0)
            G = G @ _rotate(-np.pi / 2 * k)
            used = True
        if self._on("xint"):
            gate = self._gate(u, "xint", p)
            t = [(self._u(u, "xint", i) * 2 - 1) * self.xint_max for i in range(2)]
            G = G @ _translate(tf.where(gate, t[0], 0.0), tf.where(gate, t[1], 0.0))
            used = True
        if self._on("scale"):
            s = _exp2(_normal(self._u(u, "scale", 0)) * self.scale_std)
            s = tf.where(self._gate(u, "scale", p), s, 1.0)
            G = G @ _scale(s, s)
            used = True
        p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - self.strength.get("rotate", 0) * p, 0.0, 1.0))
        if self._on("rotate"):
            th = (self._u(u, "prerot", 0) * 2 - 1) * np.pi * self.rotate_max
            G = G @ _rotate(-tf.where(u[:, _SLOTS["prerot"][0]] < p_rot, th, 0.0))
            used = True
        if self._on("aniso"):
            s = _exp2(_normal(self._u(u, "aniso", 0)) * self.aniso_std)
            s = tf.where(self._gate(u, "aniso", p), s, 1.0)
            G = G @ _scale(s, 1 / s)
            used = True
        if self._on("rotate"):
            th = (self._u(u, "postrot", 0) * 2 - 1) * np.pi * self.rotate_max
            G = G @ _rotate(-tf.where(u[:, _SLOTS["postrot"][0]] < p_rot, th, 0.0))
        if self._on("xfrac"):
            gate = self._gate(u, "xfrac", p)
            t = [_normal(self._u(u, "xfrac", i)) * self.xfrac_std for i in range(2)]
            G = G @ _translate(tf.where(gate, t[0], 0.0), tf.where(gate, t[1], 0.0))
            used = True
        return G if used else None

    def apply_geometric(self, images, G):
        """Resamples `images` with the (output -> input) matrices G, reflect-padded, 2x supersampled."""
        n, h, w, c = tf.shape(images)[0], images.shape[1], images.shape[2], images.shape[3]
        pad = max(h, w) // 2
        x = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
        x = upsample2d(x, self.up_filter)  # [N, 2(H+2pad), 2(W+2pad), C]
        # Output sample positions on the 2x grid, in centred image-size units.
        ys, xs = tf.meshgrid(tf.range(2 * h, dtype=tf.float32), tf.range(2 * w, dtype=tf.float32), indexing="ij")
        px = (xs + 0.5) / (2 * w) - 0.5
        py = (ys + 0.5) / (2 * h) - 0.5
        pts = tf.stack([tf.reshape(px, [-1]), tf.reshape(py, [-1]), tf.ones([4 * h * w])], axis=0)
        src = tf.einsum("nij,jk->nik", G, pts)  # [N, 3, 4hw]
        sx = (src[:, 0] + 0.5) * (2 * w) - 0.5 + 2 * pad
        sy = (src[:, 1] + 0.5) * (2 * h) - 0.5 + 2 * pad
        coords = tf.reshape(tf.stack([sx, sy], axis=-1), [n, 2 * h, 2 * w, 2])
        x = _bilinear_sample(x, coords)
        x = downsample2d(x, self.up_filter)
        return tf.ensure_shape(x, [None, h, w, c])

    def color_matrix(self, u, p, channels):
        n = tf.shape(u)[0]
        C = _eye(n, 4)
        used = False
        if self._on("brightness"):
            b = tf.where(self._gate(u, "brightness", p), _normal(self._u(u, "brightness", 0)) * self.brightness_std, 0.0)
            C = _translate3(tf.stack([b, b, b], axis=1)) @ C
            used = True
        if self._on("contrast"):
            s = tf.where(self._gate(u, "contrast", p), _exp2(_normal(self._u(u, "contrast", 0)) * self.contrast_std), 1.0)
            C = _scale3(s) @ C
            used = True
        v = tf.constant(_LUMA)
        if channels == 3 and self._on("lumaflip"):
            i = tf.where(self._gate(u, "lumaflip", p), tf.floor(self._u(u, "lumaflip", 0) * 2), 0.0)
            householder = tf.eye(4) - 2 * tf.tensordot(v, v, axes=0)
            C = (tf.eye(4) + (householder - tf.eye(4)) * i[:, None, None]) @ C
            used = True
        if channels == 3 and self._on("hue"):
            th = tf.where(self._gate(u, "hue", p), (self._u(u, "hue", 0) * 2 - 1) * np.pi * self.hue_max, 0.0)
            C = _rotate3(_LUMA, th) @ C
            used = True
        if channels == 3 and self._on("saturation"):
            s = tf.where(self._gate(u, "saturation", p), _exp2(_normal(self._u(u, "saturation", 0)) * self.saturation_std), 1.0)
            vv = tf.tensordot(v, v, axes=0)
            C = (vv + (tf.eye(4) - vv) * s[:, None, None]) @ C
            used = True
        return C if used else None

    def _filter_bands(self, images):
        """Four frequency bands (fine to coarse) that sum to the image (a-trous [1,4,6,4,1] blurs)."""
        k = np.array([1, 4, 6, 4, 1], np.float32) / 16
        bands, prev = [], images
        c = images.shape[-1]
        for dilation in (1, 2, 4):
            kk = np.zeros([4 * dilation + 1], np.float32)
            kk[::dilation] = k
            pad = 2 * dilation
            x = tf.pad(prev, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
            kx = tf.constant(np.tile(kk[None, :, None, None], [1, 1, c, 1]))
            ky = tf.constant(np.tile(kk[:, None, None, None], [1, 1, c, 1]))
            x = tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], "VALID")
            x = tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], "VALID")
            bands.append(prev - x)
            prev = x
        bands.append(prev)
        return bands

    def __call__(self, images, p, uniforms, seed):
        dtype = images.dtype
        x = tf.cast(images, tf.float32)
        u = tf.cast(uniforms, tf.float32)
        p = tf.cast(p, tf.float32)
        c = x.shape[-1]
        G = self.geometric_matrix(u, p)
        if G is not None:
            # Samples whose transform is the identity keep their exact pixels.
            identity = tf.reduce_all(tf.abs(G - tf.eye(3)) < 1e-6, axis=[1, 2])
            x = tf.where(identity[:, None, None, None], x, self.apply_geometric(x, G))
        C = self.color_matrix(u, p, c)
        if C is not None:
            if c == 3:
                x = tf.einsum("nij,nhwj->nhwi", C[:, :3, :3], x) + C[:, None, None, :3, 3]
            else:  # grayscale: brightness and contrast act on the single channel
                x = x * C[:, None, None, 0:1, 0] + C[:, None, None, 0:1, 3]
        if self._on("imgfilter"):
            start = _SLOTS["imgfilter"][0]
            gains = []
            for i in range(4):
                g = _exp2(_normal(u[:, start + 4 + i]) * self.imgfilter_std)
                gains.append(tf.where(u[:, start + i] < p * self.strength["imgfilter"], g, 1.0))
            gains = tf.stack(gains, axis=1)
            gains = gains / tf.sqrt(tf.reduce_mean(tf.square(gains), axis=1, keepdims=True))
            bands = self._filter_bands(x)
            x = tf.add_n([b * gains[:, i, None, None, None] for i, b in enumerate(bands)])
        if self._on("noise"):
            sigma = tf.abs(_normal(self._u(u, "noise", 0))) * self.noise_std
            sigma = tf.where(self._gate(u, "noise", p), sigma, 0.0)
            x = x + tf.random.stateless_normal(tf.shape(x), seed) * sigma[:, None, None, None]
        if self._on("cutout"):
            h, w = x.shape[1], x.shape[2]
            gate = self._gate(u, "cutout", p)
            cx, cy = self._u(u, "cutout", 0), self._u(u, "cutout", 1)
            ys = (tf.range(h, dtype=tf.float32) + 0.5) / h
            xs = (tf.range(w, dtype=tf.float32) + 0.5) / w
            inside_x = tf.abs(xs[None, :] - cx[:, None]) < self.cutout_size / 2
            inside_y = tf.abs(ys[None, :] - cy[:, None]) < self.cutout_size / 2
            mask = tf.logical_and(inside_y[:, :, None], inside_x[:, None, :])
            mask = tf.logical_and(mask, gate[:, None, None])
            x = x * (1.0 - tf.cast(mask, tf.float32))[..., None]
        return tf.cast(x, dtype)
