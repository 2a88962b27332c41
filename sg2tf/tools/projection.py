"""Projecting an image into W (or W+): LPIPS distance, noise regularization and the
StyleGAN2-ADA projector's schedule (learning-rate ramps, decaying w noise)."""

import dataclasses

import numpy as np
import tensorflow as tf

from sg2tf.networks.common import noise_variables
from sg2tf.utils import atomic


@dataclasses.dataclass
class ProjectionConfig:
    num_steps: int = 1000
    w_avg_samples: int = 10000
    initial_learning_rate: float = 0.1
    initial_noise_factor: float = 0.05
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    noise_ramp_length: float = 0.75
    regularize_noise_weight: float = 1e5
    w_plus: bool = False
    optimize_noise: bool = True  # False: keep G's stored const noise fixed
    seed: int = 0


def learning_rate(cfg, step):
    """Cosine ramp-down over the last `lr_rampdown_length`, linear ramp-up over the first
    `lr_rampup_length` of the steps."""
    t = step / cfg.num_steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * np.cos(ramp * np.pi)
    ramp *= min(1.0, t / cfg.lr_rampup_length)
    return cfg.initial_learning_rate * ramp


def w_noise_scale(cfg, step, w_std):
    """Std of the noise added to w: decays quadratically to 0 at `noise_ramp_length`."""
    t = step / cfg.num_steps
    return w_std * cfg.initial_noise_factor * max(0.0, 1.0 - t / cfg.noise_ramp_length) ** 2


def noise_regularization(buffers):
    """Sum over buffers and pyramid levels (down to 8x8) of the squared mean
    autocorrelation at a shift of one pixel, horizontally and vertically."""
    total = 0.0
    for n in buffers:
        x = n[tf.newaxis, :, :, tf.newaxis]
        while True:
            total += tf.square(tf.reduce_mean(x * tf.roll(x, 1, axis=2)))
            total += tf.square(tf.reduce_mean(x * tf.roll(x, 1, axis=1)))
            if x.shape[1] <= 8:
                break
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    return total


def w_statistics(G, samples, seed=0, c=None):
    """Mean w `[1, w_dim]` and the scalar RMS distance of ws from it."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal([samples, G.z_dim]).astype(np.float32)
    ws = []
    for start in range(0, samples, 1000):
        cc = None if c is None else tf.repeat(c, len(z[start : start + 1000]), axis=0)
        ws.append(np.asarray(G.mapping(tf.constant(z[start : start + 1000]), cc))[:, 0])
    ws = np.concatenate(ws).astype(np.float64)
    w_avg = ws.mean(axis=0, keepdims=True)
    w_std = float(np.sqrt(((ws - w_avg) ** 2).sum() / samples))
    return w_avg.astype(np.float32), w_std


def _to_256(images):
    """NHWC float [0,255] images box-downsampled to 256 px when larger."""
    size = images.shape[1]
    if size > 256:
        f = size // 256
        images = tf.nn.avg_pool2d(images, f, f, "VALID")
    return images


def project(G, target, distance, cfg=None, c=None, progress=None, on_step=None):
    """Finds w (or W+ ws) whose image matches `target`.

    Args:
      G: the generator.
      target: HWC uint8 image at G's resolution and channels.
      distance: `distance(a, b)` of NHWC [0, 255] images -> `[N]` (LPIPS normally).
      cfg: `ProjectionConfig`.
      c: one-hot `[1, c_dim]` for conditional generators.
      on_step: optional `on_step(step, ws, loss)` callback (progress videos).
    Returns:
      `(ws [num_steps, num_ws, w_dim] float32 per step, final loss)`.
    """
    cfg = cfg or ProjectionConfig()
    target = np.asarray(target)
    expect = (G.img_resolution, G.img_resolution, G.img_channels)
    if target.shape != expect:
        raise ValueError(f"target image has shape {target.shape}, the generator makes {expect}")
    if bool(G.c_dim) != (c is not None):
        raise ValueError(
            "the generator is conditional: pass a class label"
            if G.c_dim
            else "the generator is unconditional: no class label"
        )
    w_avg, w_std = w_statistics(G, cfg.w_avg_samples, cfg.seed, c)
    target_255 = _to_256(tf.constant(target[np.newaxis].astype(np.float32)))

    buffers = noise_variables(G)
    saved = [v.numpy() for v in buffers]
    rng = np.random.default_rng(cfg.seed)
    tf_rng = tf.random.Generator.from_seed(cfg.seed)
    shape = [1, G.num_ws if cfg.w_plus else 1, G.w_dim]
    w_opt = tf.Variable(np.broadcast_to(w_avg[:, None], shape).astype(np.float32))
    if not cfg.optimize_noise:
        buffers = []
    params = [w_opt] + [v.value if hasattr(v, "value") else v for v in buffers]
    m = [tf.Variable(tf.zeros_like(p)) for p in params]
    s = [tf.Variable(tf.zeros_like(p)) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8

    @tf.function
    def step_fn(lr, noise_scale, t):
        with tf.GradientTape() as tape:
            tape.watch(params)
            w = w_opt + tf_rng.normal(w_opt.shape) * noise_scale
            ws = tf.broadcast_to(w, [1, G.num_ws, G.w_dim])
            images = (G.synthesis(ws, noise_mode="const") + 1) * (255 / 2)
            dist = tf.reduce_sum(distance(_to_256(images), target_255))
            reg = noise_regularization(params[1:]) if len(params) > 1 else 0.0
            loss = dist + reg * cfg.regularize_noise_weight
        grads = tape.gradient(loss, params)
        for p, g, mm, ss in zip(params, grads, m, s):
            if g is None:
                continue
            mm.assign(beta1 * mm + (1 - beta1) * g)
            ss.assign(beta2 * ss + (1 - beta2) * tf.square(g))
            mhat = mm / (1 - beta1**t)
            shat = ss / (1 - beta2**t)
            p.assign_sub(lr * mhat / (tf.sqrt(shat) + eps))
        for p in params[1:]:  # keep the noise buffers standard normal
            mean = tf.reduce_mean(p)
            p.assign((p - mean) * tf.math.rsqrt(tf.reduce_mean(tf.square(p - mean))))
        return dist, loss

    history = np.zeros([cfg.num_steps, G.num_ws, G.w_dim], np.float32)
    loss = float("nan")
    try:
        for v in buffers:
            v.assign(rng.standard_normal(v.shape).astype(np.float32))
        for step in range(cfg.num_steps):
            lr = learning_rate(cfg, step)
            dist, loss = step_fn(
                tf.constant(lr, tf.float32),
                tf.constant(w_noise_scale(cfg, step, w_std), tf.float32),
                tf.constant(step + 1, tf.float32),
            )
            history[step] = np.broadcast_to(w_opt.numpy()[0], history.shape[1:])
            loss = float(loss)
            if on_step:
                on_step(step, history[step], float(dist))
            if progress:
                progress.update(1)
        final_noise = [v.numpy() for v in (buffers or noise_variables(G))]
    finally:
        for v, value in zip(buffers, saved):
            v.assign(value)
    return history, loss, final_noise


def pixel_distance(a, b):
    """Mean squared pixel difference of NHWC [0, 255] images, scaled to [0, 1] pixels
    (a stand-in when no LPIPS network is available; not the official objective)."""
    return tf.reduce_mean(tf.square((a - b) / 255.0), axis=[1, 2, 3])


def synthesize_with_noise(G, ws, noise):
    """uint8 NHWC images of ws `[N, num_ws, w_dim]` with the const noise buffers set to
    `noise` (as returned by `project`), restoring them afterwards."""
    from sg2tf.utils.images import to_uint8

    buffers = noise_variables(G)
    saved = [v.numpy() for v in buffers]
    try:
        for v, value in zip(buffers, noise):
            v.assign(value)
        return to_uint8(G.synthesis(tf.constant(ws, tf.float32), noise_mode="const").numpy())
    finally:
        for v, value in zip(buffers, saved):
            v.assign(value)


def save_projected_w(path, ws):
    """Writes `projected_w.npz` with key `w` `[1, num_ws, w_dim]` (the official layout,
    read by `sg2tf-generate --projected_w`)."""
    ws = np.asarray(ws, np.float32)
    if ws.ndim == 2:
        ws = ws[np.newaxis]
    with atomic.atomic_file(path) as tmp:
        np.savez(tmp, w=ws)
