"""Values that change with training progress: `--glr=0:0.002,10000:0.0002`.

A schedule is either one number (constant) or `KIMG:VALUE` points. Between points the
value is interpolated linearly in kimg; before the first point it is the first value,
after the last point the last value. `0:10,20000:5` tapers gamma from 10 to 5 over
the first 20000 kimg.
"""

import numpy as np


class Schedule:
    """A piecewise-linear function of kimg."""

    def __init__(self, points):
        points = sorted((float(k), float(v)) for k, v in points)
        if not points:
            raise ValueError("a schedule needs at least one value")
        kimgs = [k for k, _ in points]
        if len(set(kimgs)) != len(kimgs):
            raise ValueError(f"schedule has repeated kimg points: {kimgs}")
        if kimgs[0] < 0:
            raise ValueError("schedule kimg points must be >= 0")
        self.points = points

    @classmethod
    def parse(cls, spec, name="schedule"):
        """`'0.002'`, `0.002` or `'0:0.002,10000:0.0002'` -> Schedule."""
        if isinstance(spec, Schedule):
            return spec
        if isinstance(spec, (int, float)):
            return cls([(0.0, float(spec))])
        text = str(spec).strip()
        try:
            if ":" not in text:
                return cls([(0.0, float(text))])
            points = []
            for part in text.split(","):
                kimg, value = part.split(":")
                points.append((float(kimg), float(value)))
            return cls(points)
        except ValueError as e:
            raise ValueError(f"--{name}: {spec!r} is not a number or a list like "
                             f"'0:0.002,10000:0.0002' ({e})") from None

    @property
    def is_constant(self):
        return len(self.points) == 1

    def __call__(self, kimg):
        """Value at `kimg` (a float) as a Python float."""
        ks, vs = zip(*self.points)
        return float(np.interp(float(kimg), ks, vs))

    def tf_value(self, kimg):
        """Value at `kimg` (a float32 scalar tensor), for use inside a tf.function."""
        import tensorflow as tf  # lazily: option parsing needs no TensorFlow

        ks = tf.constant([k for k, _ in self.points], tf.float32)
        vs = tf.constant([v for _, v in self.points], tf.float32)
        kimg = tf.cast(kimg, tf.float32)
        if self.is_constant:
            return vs[0]
        hi = tf.clip_by_value(tf.searchsorted(ks, kimg[None], side="right")[0], 1, len(self.points) - 1)
        k0, k1, v0, v1 = ks[hi - 1], ks[hi], vs[hi - 1], vs[hi]
        t = tf.clip_by_value((kimg - k0) / (k1 - k0), 0.0, 1.0)
        return v0 + (v1 - v0) * t

    def spec(self):
        """The canonical string form (for training_options.json)."""
        if self.is_constant:
            return repr(self.points[0][1])
        return ",".join(f"{k:g}:{v!r}" for k, v in self.points)

    def __repr__(self):
        return f"Schedule({self.spec()})"
