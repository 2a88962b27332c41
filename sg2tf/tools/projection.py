"""Projecting images into W (or W+): the StyleGAN2-ADA projector's optimisation (LPIPS
distance, noise regularisation, learning-rate ramps, decaying w noise), for a batch of
targets at once, and the many-image driver behind `sg2tf-project --targets`.

The targets of a batch are independent optimisations in one graph: the loss is a sum of
per-image terms and Adam works element by element, so each image follows the path it would
follow alone. Every image draws the same random numbers (the initial noise inputs, then the
w noise of each step) from `RandomState(seed)`, so an image's result does not depend on the
batch it was projected in.
"""

import dataclasses
import glob
import json
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from sg2tf import sampling
from sg2tf.data.format import PIL_MODES
from sg2tf.errors import FlagError, UserError
from sg2tf.metrics import features
from sg2tf.networks.common import noise_variables
from sg2tf.tools import video
from sg2tf.utils import atomic
from sg2tf.utils.images import atomic_save_png

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
SUMMARY = "projections.json"
RECORD = "projection.json"


class TargetError(UserError, ValueError):
    """A target image that cannot be read (bad input data: exit status 1)."""

    exit_code = 1


class TargetMissing(TargetError, FileNotFoundError):
    """A target image that does not exist (exit status 2, as every missing file)."""

    exit_code = 2


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


@dataclasses.dataclass
class Projection:
    """The result of projecting one image.

    Attributes:
      w_steps: `[num_steps, 1 or num_ws, w_dim]` the optimised w (W+: ws) after each step.
      noise: the optimised noise inputs, `[H, W]` each (empty without noise optimisation).
      distance: the distance of the final w (with the optimised noise) to the target.
      noise_regularization: the noise regulariser of the final noise (unweighted).
      proj_distance: the distance of `proj.png`'s image: the final w with G's stored noise,
        which is how the official projector renders its result.
    """

    w_steps: np.ndarray
    noise: list
    distance: float
    noise_regularization: float
    proj_distance: float

    def ws(self, num_ws):
        """`[num_steps, num_ws, w_dim]`: every step's ws."""
        return np.broadcast_to(self.w_steps, (len(self.w_steps), num_ws, self.w_steps.shape[-1])).copy()

    def final_ws(self, num_ws):
        """`[1, num_ws, w_dim]`: the projected ws (what `projected_w.npz` holds)."""
        return self.ws(num_ws)[-1:]


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
    """Per image, the sum over buffers `[N, H, W]` and their pyramid levels (down to 8x8) of
    the squared mean autocorrelation at a shift of one pixel, horizontally and vertically.
    A non-square buffer is halved while its shorter side is above 8 and both sides are even
    (the original's rule, "until 8 high", for its square buffers). Returns `[N]`."""
    total = 0.0
    for n in buffers:
        x = tf.convert_to_tensor(n)[:, :, :, tf.newaxis]
        while True:
            total += tf.square(tf.reduce_mean(x * tf.roll(x, 1, axis=2), axis=[1, 2, 3]))
            total += tf.square(tf.reduce_mean(x * tf.roll(x, 1, axis=1), axis=[1, 2, 3]))
            h, w = x.shape[1], x.shape[2]
            if min(h, w) <= 8 or h % 2 or w % 2:
                break
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    return total


def w_statistics(G, samples, c=None):
    """Mean w `[1, w_dim]` and the scalar RMS distance of ws from it, over the ws of
    `samples` latents drawn from `RandomState(123)` (the official projector's fixed draw).
    `c`: `[1, c_dim]` class label of a conditional G."""
    z = np.random.RandomState(123).randn(samples, G.z_dim).astype(np.float32)
    ws = []
    for start in range(0, samples, 1000):
        chunk = z[start : start + 1000]
        cc = None if c is None else tf.repeat(tf.constant(c, tf.float32), len(chunk), axis=0)
        ws.append(np.asarray(G.mapping(tf.constant(chunk), cc))[:, 0])
    ws = np.concatenate(ws).astype(np.float64)
    w_avg = ws.mean(axis=0, keepdims=True)
    w_std = float(np.sqrt(((ws - w_avg) ** 2).sum() / samples))
    return w_avg.astype(np.float32), w_std


def _to_256(images):
    """NHWC float [0,255] images box-downsampled to 256 px when larger (the original's area
    resize of its square images to 256x256); a non-square image by the power-of-two factor that
    brings its longer side to 256, as far as both sides divide."""
    h, w = images.shape[1], images.shape[2]
    f = 1
    while max(h, w) // f > 256 and h % (2 * f) == 0 and w % (2 * f) == 0:
        f *= 2
    if f > 1:
        images = tf.nn.avg_pool2d(images, f, f, "VALID")
    return images


def pixel_distance(a, b):
    """Mean squared pixel difference of NHWC [0, 255] images, scaled to [0, 1] pixels
    (a stand-in when no LPIPS network is available; not the official objective)."""
    return tf.reduce_mean(tf.square((a - b) / 255.0), axis=[1, 2, 3])


def distance_function(kind, lpips_path=None):
    """`pixel_distance` for `kind` 'pixel'; for 'lpips' the LPIPS distance of the NVlabs
    `vgg16_zhang_perceptual.pkl` (`lpips_path` or the cache), whose absence is an error that
    also names the way to go without it."""

    if kind == "pixel":
        return pixel_distance
    if kind != "lpips":
        raise FlagError(f"--distance={kind}: lpips or pixel")
    try:
        return features.load("lpips", lpips_path).distance
    except features.FeatureNetworkMissing as e:
        message = " ".join(str(e).split())  # one line
        raise features.FeatureNetworkMissing(
            f"{message}; or pass --distance=pixel (mean squared error: no file needed, not the official objective)"
        ) from None


class Projector:
    """Projects up to `batch_size` targets at once; built (and traced) once, reused for every
    batch.

    Args:
      G: the generator.
      distance: `distance(a, b)` of NHWC [0, 255] images -> `[N]` (LPIPS normally).
      cfg: `ProjectionConfig`.
      batch_size: targets per optimisation.
      c: one-hot `[1, c_dim]` for a conditional G (only the w statistics use it).
      w_stats: `(w_avg, w_std)` from `w_statistics`, to share them between projectors.
    """

    def __init__(self, G, distance, cfg=None, batch_size=1, c=None, w_stats=None):
        self.G, self.distance = G, distance
        self.cfg = cfg = cfg or ProjectionConfig()
        if cfg.num_steps < 1:
            raise ValueError(f"num_steps must be positive, got {cfg.num_steps}")
        if bool(G.c_dim) != (c is not None):
            raise ValueError(
                "the generator is conditional: pass a class label"
                if G.c_dim
                else "the generator is unconditional: no class label"
            )
        self.batch_size = int(batch_size)
        self.w_avg, self.w_std = w_stats or w_statistics(G, cfg.w_avg_samples, c)
        b = self.batch_size
        self.shape = (*G.img_shape, G.img_channels)
        self.w_opt = tf.Variable(tf.zeros([b, G.num_ws if cfg.w_plus else 1, G.w_dim]))
        self.buffer_shapes = [tuple(v.shape) for v in noise_variables(G)] if cfg.optimize_noise else []
        self.noise = [tf.Variable(tf.zeros((b,) + s)) for s in self.buffer_shapes]
        self.params = [self.w_opt] + self.noise
        self.m = [tf.Variable(tf.zeros_like(p)) for p in self.params]
        self.s = [tf.Variable(tf.zeros_like(p)) for p in self.params]
        self.target = tf.Variable(_to_256(tf.zeros((b,) + self.shape)))

    def _images(self, w, noise):
        ws = tf.broadcast_to(w, [self.batch_size, self.G.num_ws, self.G.w_dim])
        return (self.G.synthesis(ws, noise_mode="const", noise=noise or None) + 1) * (255 / 2)

    @tf.function
    def _step(self, lr, noise_scale, w_noise, t):
        beta1, beta2, eps = 0.9, 0.999, 1e-8  # torch.optim.Adam's, as the official projector
        with tf.GradientTape() as tape:
            images = self._images(self.w_opt + w_noise * noise_scale, self.noise)
            dist = self.distance(_to_256(images), self.target)
            reg = noise_regularization(self.noise) if self.noise else tf.zeros_like(dist)
            loss = tf.reduce_sum(dist + reg * self.cfg.regularize_noise_weight)
        grads = tape.gradient(loss, self.params)
        for p, g, m, s in zip(self.params, grads, self.m, self.s):
            m.assign(beta1 * m + (1 - beta1) * g)
            s.assign(beta2 * s + (1 - beta2) * tf.square(g))
            p.assign_sub(lr * (m / (1 - beta1**t)) / (tf.sqrt(s / (1 - beta2**t)) + eps))
        for p in self.noise:  # keep every image's noise inputs standard normal
            p.assign(p - tf.reduce_mean(p, axis=[1, 2], keepdims=True))
            p.assign(p * tf.math.rsqrt(tf.reduce_mean(tf.square(p), axis=[1, 2], keepdims=True)))
        return dist

    def _evaluate(self):  # once per batch: eager (a trace would cost more than it saves)
        target = self.target
        dist = self.distance(_to_256(self._images(self.w_opt, self.noise)), target)
        reg = noise_regularization(self.noise) if self.noise else tf.zeros_like(dist)
        proj = self._images(self.w_opt, [])
        return dist, reg, self.distance(_to_256(proj), target)

    def project(self, targets, progress=None, on_step=None):
        """Projects `targets` (NHWC uint8, at most `batch_size`; a short batch is padded).

        Args:
          progress: optional `Progress`, advanced by the number of targets per step.
          on_step: optional `on_step(step, w [n, 1 or num_ws, w_dim], distances [n])`.
        Returns:
          a `Projection` per target.
        """
        targets = np.asarray(targets)
        n, cfg = len(targets), self.cfg
        if targets.ndim != 4 or targets.shape[1:] != self.shape:
            raise ValueError(f"target images have shape {targets.shape[1:]}, the generator makes {self.shape}")
        if not 0 < n <= self.batch_size:
            raise ValueError(f"{n} targets for a projector of batch size {self.batch_size}")
        padded = np.concatenate([targets, np.repeat(targets[-1:], self.batch_size - n, axis=0)])
        self.target.assign(_to_256(tf.constant(padded, tf.float32)))
        rng = np.random.RandomState(cfg.seed)
        self.w_opt.assign(np.broadcast_to(self.w_avg[:, None], self.w_opt.shape))
        for v, shape in zip(self.noise, self.buffer_shapes):
            v.assign(np.broadcast_to(rng.standard_normal(shape).astype(np.float32), v.shape))
        for v in self.m + self.s:
            v.assign(tf.zeros_like(v))
        w_steps = np.zeros((self.batch_size, cfg.num_steps) + tuple(self.w_opt.shape[1:]), np.float32)
        for step in range(cfg.num_steps):
            w_noise = rng.standard_normal(self.w_opt.shape[1:]).astype(np.float32)
            dist = self._step(
                tf.constant(learning_rate(cfg, step), tf.float32),
                tf.constant(w_noise_scale(cfg, step, self.w_std), tf.float32),
                tf.constant(w_noise[np.newaxis]),
                tf.constant(step + 1, tf.float32),
            )
            w_steps[:, step] = self.w_opt.numpy()
            if on_step:
                on_step(step, w_steps[:n, step], dist.numpy()[:n])
            if progress:
                progress.update(n)
        dist, reg, proj_dist = (x.numpy() for x in self._evaluate())
        noise = [v.numpy() for v in self.noise]
        return [
            Projection(w_steps[i], [b[i] for b in noise], float(dist[i]), float(reg[i]), float(proj_dist[i]))
            for i in range(n)
        ]


def project(G, target, distance, cfg=None, c=None, progress=None, on_step=None):
    """Projects one HWC uint8 `target`: a `Projection` (see `Projector`)."""
    target = np.asarray(target)
    return Projector(G, distance, cfg, 1, c).project(target[np.newaxis], progress, on_step)[0]


def save_projected_w(path, ws):
    """Writes `projected_w.npz` with key `w` `[1, num_ws, w_dim]` (the official layout,
    read by `sg2tf-generate --projected_w`)."""
    ws = np.asarray(ws, np.float32)
    if ws.ndim == 2:
        ws = ws[np.newaxis]
    with atomic.atomic_file(path) as tmp:
        np.savez(tmp, w=ws)


# ---------------------------------------------------------------------------- many images


def load_target(path, resolution, channels):
    """The target as HWC uint8: center-cropped to a square, resized (Lanczos), as the
    official projector does. `resolution`: R, or `(height, width)` of a non-square generator
    (`G.img_shape`), whose targets are center-cropped to the largest box of its aspect ratio
    instead. A file that is not a readable image raises `TargetError`."""
    out_h, out_w = (resolution, resolution) if np.ndim(resolution) == 0 else (int(v) for v in resolution)
    try:
        with Image.open(path) as im:
            im = im.convert(PIL_MODES[channels])  # an RGBA/LA network's target keeps its alpha
            w, h = im.size
            # the largest centered box of aspect out_w:out_h (a square for a square G)
            cw, ch = (w, w * out_h // out_w) if w * out_h <= h * out_w else (h * out_w // out_h, h)
            im = im.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2))
            arr = np.asarray(im.resize((out_w, out_h), Image.LANCZOS), np.uint8)
    except FileNotFoundError:
        raise TargetMissing(f"{path}: no such target image") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise TargetError(f"{path}: not a readable image ({e})") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def list_targets(spec):
    """The image files of `spec`: a folder (its images, sorted), a glob pattern or one file."""
    spec = os.path.expanduser(spec)
    if os.path.isdir(spec):
        paths = [os.path.join(spec, n) for n in sorted(os.listdir(spec))]
        paths = [p for p in paths if os.path.isfile(p) and p.lower().endswith(IMAGE_SUFFIXES)]
    elif os.path.isfile(spec):
        paths = [spec]
    else:
        paths = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if not paths:
        raise FlagError(f"--targets={spec}: no image files there")
    return paths


def output_names(paths):
    """One folder name per target: the file name without its suffix, or with it (`a_jpg`)
    where two targets share a stem."""
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    return [s if stems.count(s) == 1 else os.path.basename(p).replace(".", "_") for s, p in zip(stems, paths)]


def write_outputs(folder, G, target, result, save_video=False):
    """Writes a projection's files into `folder`: `projected_w.npz`, `proj.png` (the projected
    w with G's stored noise, as the official projector renders it), `target.png` and, with
    `save_video`, `proj.mp4` (or `.gif` without imageio-ffmpeg) of target | each step."""

    final = result.final_ws(G.num_ws)
    save_projected_w(os.path.join(folder, "projected_w.npz"), final)
    atomic_save_png(os.path.join(folder, "proj.png"), next(sampling.generate_from_ws(G, final))[0])
    atomic_save_png(os.path.join(folder, "target.png"), target)
    if save_video:
        path, _ = video.resolve_output(os.path.join(folder, "proj.mp4"))
        with video.VideoWriter(path, fps=10) as writer:
            for frames in sampling.generate_from_ws(G, result.ws(G.num_ws), batch_size=16):
                for frame in frames:
                    writer.append(np.concatenate([target, frame], axis=1))


def _record(source, name, result, distance_name, settings):
    return {
        "source": source,
        "name": name,
        "status": "projected",
        "distance": result.distance,
        "distance_kind": distance_name,
        "noise_regularization": result.noise_regularization,
        "proj_distance": result.proj_distance,
        "settings": settings,
    }


def project_targets(
    G,
    paths,
    outdir,
    distance,
    cfg=None,
    batch_size=4,
    c=None,
    distance_name="lpips",
    save_video=False,
    overwrite=False,
    progress=None,
    log=print,
    info=None,
):
    """Projects every image of `paths` into `outdir/<name>/` (see `output_names`), batch by
    batch, and keeps `outdir/projections.json` up to date (a record per image, written after
    every batch).

    Each image's folder appears atomically when complete, so a rerun (resume) skips the
    images whose folder exists. A file that is not a readable image is named through `log`,
    skipped and listed with its error. When a batch does not fit in memory, the batch size is
    halved (and said through `log`) until it does.

    Args:
      G, distance, cfg, c: as for `Projector`.
      distance_name: what `distance` is (`lpips`, `pixel`), recorded per image.
      overwrite: project the images whose folder exists again (else they are skipped).
      progress: optional `progress(total)` -> a `Progress` over `total` = steps x the images
        still to project.
      info: what else identifies the settings (the network, flags), recorded with the
        config in `projections.json` and each image's `projection.json`; a rerun with other
        settings keeps the images already projected and says so through `log`.
    Returns:
      the summary written to `projections.json`.
    """
    cfg = cfg or ProjectionConfig()
    names = output_names(paths)
    records = [None] * len(paths)
    pending = []
    settings = {**(info or {}), "distance": distance_name, "config": dataclasses.asdict(cfg)}
    for i, name in enumerate(names):
        done = os.path.join(outdir, name, RECORD)
        if os.path.isfile(done) and not overwrite:
            with open(done) as f:
                records[i] = dict(json.load(f), status="projected")
            if records[i].get("settings") != settings:
                log(f"note: {name} was projected with other settings (kept; --overwrite projects it again)")
        else:
            pending.append(i)
    summary = {**settings, "images": records}

    def write_summary():
        listed = [r for r in records if r is not None]
        summary.update(
            images=listed,
            projected=sum(r["status"] == "projected" for r in listed),
            failed=sum(r["status"] == "failed" for r in listed),
        )
        with atomic.atomic_file(os.path.join(outdir, SUMMARY)) as tmp, open(tmp, "w") as f:
            json.dump(summary, f, indent=2)

    os.makedirs(outdir, exist_ok=True)
    progress = progress(len(pending) * cfg.num_steps) if progress is not None else None
    projector, size, w_stats = None, min(batch_size, len(pending)), None
    batch = []

    def run_batch():
        nonlocal projector, size, w_stats
        while batch:
            chunk = batch[:size]
            try:
                w_stats = w_stats or w_statistics(G, cfg.w_avg_samples, c)
                projector = projector or Projector(G, distance, cfg, size, c, w_stats)
                results = projector.project(np.stack([t for _, t in chunk]), progress)
            except tf.errors.ResourceExhaustedError:
                if size == 1:
                    raise
                projector, size = None, size // 2
                log(f"out of memory projecting {len(chunk)} images at once: going on with {size}")
                continue
            for (i, target), result in zip(chunk, results):
                with atomic.atomic_dir(os.path.join(outdir, names[i])) as tmp:
                    write_outputs(tmp, G, target, result, save_video)
                    records[i] = _record(paths[i], names[i], result, distance_name, settings)
                    with open(os.path.join(tmp, RECORD), "w") as f:
                        json.dump(records[i], f, indent=2)
            del batch[: len(chunk)]
            write_summary()

    for i in pending:
        try:
            batch.append((i, load_target(paths[i], G.img_shape, G.img_channels)))
        except TargetError as e:
            log(f"skipping {e}")
            records[i] = {"source": paths[i], "name": names[i], "status": "failed", "error": str(e)}
            if progress is not None:
                progress.update(cfg.num_steps)
            continue
        if len(batch) == batch_size:
            run_batch()
    if batch:
        run_batch()
    write_summary()
    return summary
