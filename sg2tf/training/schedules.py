"""Values that change with training progress: `--glr=0:0.002,10000:0.0002`.

A schedule is one number (constant) or `KIMG:VALUE` points, in kimg order:

  0:0.002,10000:0.0002          steps: 0.002, and from 10000 kimg on 0.0002
  0:10..20000:5                 a linear ramp: 10 at 0 kimg, down to 5 at 20000 kimg, then 5
  0:0.002,10000:0.002..20000:0  mixed: 0.002 until 10000 kimg, then down linearly to 0 at 20000

A comma starts a new value at its point ("from kimg K on, value V"); `..` between two points
ramps linearly from the first to the second. Before the first point the value is the first
value, after the last point the last value.

Schedules written by sg2tf before the step syntax (`training_options.json` without
`schedule_syntax`) used commas for linear ramps; `from_legacy` reads them so.
"""

import numpy as np

# The version of the text form, recorded in training_options.json.
SYNTAX = 2
EXAMPLE = "'0.002', '0:0.002,10000:0.0002' (steps) or '0:10..20000:5' (a linear ramp)"


class Schedule:
    """A function of kimg, constant or stepping between points, with linear ramps where asked.

    Args:
      points: `[(kimg, value)]`, strictly increasing kimg, all >= 0.
      ramps: for each gap between consecutive points, whether the value ramps linearly over
        it (True) or holds until the next point (False); default: all steps.
    """

    def __init__(self, points, ramps=None):
        points = [(float(k), float(v)) for k, v in points]
        if not points:
            raise ValueError("a schedule needs at least one value")
        kimgs = [k for k, _ in points]
        if any(b <= a for a, b in zip(kimgs, kimgs[1:])):
            raise ValueError(f"schedule kimg points must increase: {kimgs}")
        if kimgs[0] < 0:
            raise ValueError("schedule kimg points must be >= 0")
        ramps = [False] * (len(points) - 1) if ramps is None else [bool(r) for r in ramps]
        if len(ramps) != len(points) - 1:
            raise ValueError("a schedule needs one step/ramp choice per gap between points")
        self.points = points
        self.ramps = ramps

    @classmethod
    def parse(cls, spec, name="schedule"):
        """`'0.002'`, `0.002`, `'0:0.002,10000:0.0002'` or `'0:10..20000:5'` -> Schedule."""
        if isinstance(spec, Schedule):
            return spec
        if isinstance(spec, (int, float)):
            return cls([(0.0, float(spec))])
        text = str(spec).strip()
        try:
            if ":" not in text:
                return cls([(0.0, float(text))])
            points, ramps = [], []
            for part in text.split(","):
                for j, point in enumerate(part.split("..")):
                    if points:
                        ramps.append(j > 0)
                    kimg, value = point.split(":")
                    points.append((float(kimg), float(value)))
            return cls(points, ramps)
        except ValueError as e:
            raise ValueError(f"--{name}={spec}: not a number or a schedule like {EXAMPLE} ({e})") from None

    @classmethod
    def from_legacy(cls, spec, name="schedule"):
        """A schedule in the text form of sg2tf before `SYNTAX` 2 (commas: linear ramps)."""
        text = str(spec).strip()
        return cls.parse(text.replace(",", "..") if ":" in text else text, name)

    @property
    def is_constant(self):
        return len(self.points) == 1

    @property
    def max_value(self):
        return max(v for _, v in self.points)

    def __call__(self, kimg):
        """Value at `kimg` (a float) as a Python float."""
        kimg = float(kimg)
        ks = [k for k, _ in self.points]
        i = int(np.searchsorted(ks, kimg, side="right")) - 1
        if i < 0:
            return self.points[0][1]
        if i == len(ks) - 1 or not self.ramps[i]:
            return self.points[i][1]
        (k0, v0), (k1, v1) = self.points[i], self.points[i + 1]
        return float(np.interp(kimg, [k0, k1], [v0, v1]))

    def tf_value(self, kimg):
        """Value at `kimg` (a float32 scalar tensor), for use inside a tf.function."""
        import tensorflow as tf  # lazily: option parsing needs no TensorFlow

        ks = tf.constant([k for k, _ in self.points], tf.float32)
        vs = tf.constant([v for _, v in self.points], tf.float32)
        kimg = tf.cast(kimg, tf.float32)
        if self.is_constant:
            return vs[0]
        n = len(self.points)
        i = tf.clip_by_value(tf.searchsorted(ks, kimg[None], side="right")[0] - 1, 0, n - 2)
        k0, k1, v0, v1 = ks[i], ks[i + 1], vs[i], vs[i + 1]
        ramp = tf.constant(self.ramps, tf.bool)[i]
        t = tf.clip_by_value((kimg - k0) / (k1 - k0), 0.0, 1.0)
        ramped = v0 + (v1 - v0) * t
        stepped = tf.where(kimg >= k1, v1, v0)
        return tf.where(ramp, ramped, stepped)

    def spec(self):
        """The canonical string form (for training_options.json)."""
        if self.is_constant:
            return repr(self.points[0][1])
        text = f"{_kimg(self.points[0][0])}:{self.points[0][1]!r}"
        for ramp, (k, v) in zip(self.ramps, self.points[1:]):
            text += (".." if ramp else ",") + f"{_kimg(k)}:{v!r}"
        return text

    def __repr__(self):
        return f"Schedule({self.spec()})"


def _kimg(k):
    short = f"{k:g}"
    return short if float(short) == k else repr(k)
