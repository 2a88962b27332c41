"""upfirdn2d: upsample, pad, FIR-filter and downsample a batch of NHWC images.

One public op, `upfirdn2d`, with the wrappers `filter2d`, `upsample2d` and
`downsample2d`. The reference implementation uses stock TensorFlow ops only
(zero-insertion by reshape+pad, depthwise convolution, strided slicing), so it is
differentiable to any order, runs on every device and converts to TFLite builtins.
The compiled kernel of `custom_ops/upfirdn2d` is used when `dispatch` allows.

Semantics (the same as the original StyleGAN2 ops, in NHWC):
  1. Upsample by inserting `up - 1` zeros after every pixel.
  2. Pad with zeros (`padding`, negative values crop).
  3. Convolve with the FIR filter `f` (true convolution unless `flip_filter`),
     scaled by `gain`.
  4. Keep every `down`-th pixel.
"""

import numpy as np
import tensorflow as tf

from sg2tf.ops import _custom, dispatch


def _pair(value, name):
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    value = [int(v) for v in value]
    if len(value) != 2:
        raise ValueError(f"{name} must be an int or a pair [x, y], got {value}")
    return value[0], value[1]


def parse_padding(padding):
    """Returns `(padx0, padx1, pady0, pady1)` from an int, `[x, y]` or `[x0, x1, y0, y1]`."""
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"padding must be an int, [x, y] or [x0, x1, y0, y1], got {padding}")


def setup_filter(f, normalize=True, flip_filter=False, gain=1, separable=None):
    """Turns filter taps into a float32 numpy filter ready for `upfirdn2d`.

    Args:
      f: taps, `[taps]` or `[fh, fw]` (array-like), or None for the identity.
      normalize: divide by the sum of the taps.
      flip_filter: flip the taps.
      gain: signal magnitude scale; a 1-D (separable) filter carries `sqrt(gain)`.
      separable: keep a 1-D filter separable (default: when it has 8 taps or more,
        as the original code does; shorter filters become their outer product).

    Returns:
      np.float32 array `[taps]` (separable) or `[fh, fw]`.
    """
    if f is None:
        f = 1
    f = np.asarray(f, dtype=np.float32)
    if f.ndim == 0:
        f = f[np.newaxis]
    if f.ndim not in (1, 2) or f.size == 0:
        raise ValueError(f"FIR filter must be 1-D or 2-D and non-empty, got shape {f.shape}")
    if separable is None:
        separable = f.ndim == 1 and f.size >= 8
    if f.ndim == 1 and not separable:
        f = np.outer(f, f)
    if normalize:
        f = f / np.sum(f)
    if flip_filter:
        f = np.flip(f)
    f = f * np.float32(gain ** (f.ndim / 2))
    return np.ascontiguousarray(f, dtype=np.float32)


def filter_size(f):
    """Returns `(fw, fh)` of a filter made by `setup_filter` (or None)."""
    if f is None:
        return 1, 1
    shape = np.shape(f) if not isinstance(f, tf.Tensor) else tuple(f.shape)
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    return int(shape[1]), int(shape[0])


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl=None):
    """Pads, upsamples, filters and downsamples a batch of 2D images.

    Args:
      x: float tensor `[N, H, W, C]` (float16, bfloat16, float32 or float64).
      f: FIR filter `[fh, fw]` (non-separable), `[taps]` (separable) or None
        (identity). Treated as a constant: no gradient flows to it.
      up: upsampling factor, int or `[x, y]`.
      down: downsampling factor, int or `[x, y]`.
      padding: padding of the upsampled image, int, `[x, y]` or `[x0, x1, y0, y1]`;
        negative values crop.
      flip_filter: False for convolution, True for correlation.
      gain: overall signal magnitude scale.
      impl: 'auto', 'custom', 'ref' or None (the setting in force, see `dispatch`).

    Returns:
      Tensor `[N, (H*upy + pady0 + pady1 - fh + downy) // downy,
      (W*upx + padx0 + padx1 - fw + downx) // downx, C]`.
    """
    upx, upy = _pair(up, "up")
    downx, downy = _pair(down, "down")
    if min(upx, upy, downx, downy) < 1:
        raise ValueError(f"up and down factors must be >= 1, got up={up}, down={down}")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    if f is None:
        f = np.ones([1, 1], dtype=np.float32)
    if dispatch.use_custom(impl):
        return _custom.upfirdn2d(
            x,
            f,
            upx=upx,
            upy=upy,
            downx=downx,
            downy=downy,
            padx0=padx0,
            padx1=padx1,
            pady0=pady0,
            pady1=pady1,
            flip_filter=flip_filter,
            gain=gain,
        )
    return _upfirdn2d_ref(
        x,
        f,
        upx,
        upy,
        downx,
        downy,
        padx0,
        padx1,
        pady0,
        pady1,
        flip_filter,
        gain,
        shifted_sums=dispatch.in_xla_scope(),
    )


def _upfirdn2d_ref(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain, shifted_sums=False):
    x = tf.convert_to_tensor(x)
    if x.dtype in (tf.float16, tf.bfloat16):
        # TensorFlow's CPU depthwise convolution sums float16 in float16 (6e-4 from the exact sum
        # at 256 px against 2e-4 for one rounding); the compiled op and the originals' kernels sum
        # in float32 and round once, and so does this, forward and backward.
        args = (upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain, shifted_sums)
        return tf.cast(_upfirdn2d_ref(tf.cast(x, tf.float32), f, *args), x.dtype)
    if x.shape.rank != 4:
        raise ValueError(f"upfirdn2d expects NHWC input of rank 4, got shape {x.shape}")
    channels = x.shape[-1]
    if channels is None:
        raise ValueError("upfirdn2d needs a static channel count")
    taps = _constant_taps(f, flip_filter, gain) if shifted_sums else None
    f = tf.stop_gradient(tf.cast(tf.convert_to_tensor(f), x.dtype))
    if f.shape.rank not in (1, 2):
        raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")

    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]

    # Zero insertion, one axis at a time with rank-4 tensors (TFLite's PAD stops at
    # rank 4): [N*H, W, 1, C] padded to [N*H, W, upx, C], then [N, H, 1, W*upx*C]
    # padded to [N, H, upy, W*upx*C].
    if upx > 1:
        x = tf.reshape(x, [n * h, w, 1, channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upx - 1], [0, 0]])
    if upy > 1:
        x = tf.reshape(x, [n, h, 1, w * upx * channels])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upy - 1], [0, 0]])
    if upx > 1 or upy > 1:
        x = tf.reshape(x, [n, h * upy, w * upx, channels])

    # Crop (negative padding) here; positive padding is the depthwise convolutions'
    # explicit padding below (no separate PAD pass over the image; TFLite's converter
    # turns it back into PAD + DEPTHWISE_CONV_2D).
    if min(padx0, padx1, pady0, pady1) < 0:
        hh, ww = tf.shape(x)[1], tf.shape(x)[2]
        x = x[:, max(-pady0, 0) : hh - max(-pady1, 0), max(-padx0, 0) : ww - max(-padx1, 0), :]

    # Scale, and flip for true convolution (depthwise_conv2d is a correlation).
    f = f * tf.cast(gain ** (f.shape.rank / 2), x.dtype)
    if not flip_filter:
        f = tf.reverse(f, axis=list(range(f.shape.rank)))

    if shifted_sums:
        if taps is None:  # a filter tensor: its (flipped, scaled) entries as taps
            if f.shape.rank == 1:
                taps = ([f[i] for i in range(f.shape[0])],) * 2
            else:
                taps = [[f[i, j] for j in range(f.shape[1])] for i in range(f.shape[0])]
        return _fir_shifted_sums(x, taps, [max(pady0, 0), max(pady1, 0)], [max(padx0, 0), max(padx1, 0)], downy, downx)

    # Fold a uniform downsampling factor into the convolution stride.
    stride = downx if downx == downy else 1
    strides = [1, stride, stride, 1]
    pad_y = [max(pady0, 0), max(pady1, 0)]
    pad_x = [max(padx0, 0), max(padx1, 0)]
    if f.shape.rank == 2:
        kernel = tf.tile(f[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
        x = tf.nn.depthwise_conv2d(x, kernel, strides=strides, padding=_padding_arg(pad_y, pad_x))
    else:
        kernel_x = tf.tile(f[tf.newaxis, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
        kernel_y = tf.tile(f[:, tf.newaxis, tf.newaxis, tf.newaxis], [1, 1, channels, 1])
        x = tf.nn.depthwise_conv2d(x, kernel_x, strides=[1, 1, 1, 1], padding=_padding_arg([0, 0], pad_x))
        x = tf.nn.depthwise_conv2d(x, kernel_y, strides=strides, padding=_padding_arg(pad_y, [0, 0]))
    if stride == 1 and (downx > 1 or downy > 1):
        x = x[:, ::downy, ::downx, :]
    return x


def _size(x, axis):
    """A dimension: a Python int when static (slices then keep static shapes)."""
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def _taps(x, weights, axis, stride):
    """Correlation with `weights` along `axis` (1: y, 2: x) as a sum of strided shifted
    slices, keeping every `stride`-th output pixel."""
    last = (_size(x, axis) - len(weights)) // stride * stride  # start of the last window
    out = None
    for i, weight in enumerate(weights):
        if isinstance(weight, float) and weight == 0.0:
            continue
        part = x[:, i : i + last + 1 : stride] if axis == 1 else x[:, :, i : i + last + 1 : stride]
        if not (isinstance(weight, float) and weight == 1.0):
            part = part * weight
        out = part if out is None else out + part
    if out is None:  # an all-zero filter
        out = 0.0 * (x[:, : last + 1 : stride] if axis == 1 else x[:, :, : last + 1 : stride])
    return out


def _constant_taps(f, flip_filter, gain):
    """The correlation taps of a constant filter as Python floats, flipped for true
    convolution and scaled by `gain`: `(taps_y, taps_x)` when separable (1-D filters and
    2-D outer products such as setup_filter's 4x4), else a list of rows; None for a
    tensor filter."""
    if isinstance(f, (tf.Tensor, tf.Variable)):
        return None
    f = np.asarray(f, np.float64)
    if f.ndim == 1:
        f = (f if flip_filter else f[::-1]) * np.sqrt(gain)
        return [float(v) for v in f], [float(v) for v in f]
    f = (f if flip_filter else f[::-1, ::-1]) * gain
    u, s, vt = np.linalg.svd(f)
    fy, fx = u[:, 0] * np.sqrt(s[0]), vt[0] * np.sqrt(s[0])
    if np.allclose(np.outer(fy, fx), f, rtol=1e-6, atol=1e-7 * np.abs(f).max()):
        return [float(v) for v in fy], [float(v) for v in fx]
    return [[float(v) for v in row] for row in f]


def _fir_shifted_sums(x, taps, pad_y, pad_x, stride_y, stride_x):
    """Pads and correlates with `taps` (`(taps_y, taps_x)` of a separable filter, or the
    rows of a 2-D one), keeping every stride-th output pixel, with shifted slices only:
    XLA fuses them into one loop (see `dispatch.xla_scope`)."""
    if max(pad_y + pad_x) > 0:
        x = tf.pad(x, [[0, 0], pad_y, pad_x, [0, 0]])
    if isinstance(taps, tuple):
        taps_y, taps_x = taps
        return _taps(_taps(x, taps_x, 2, stride_x), taps_y, 1, stride_y)
    # Row i of the filter: its horizontal pass, then input rows i, i + stride_y, ...
    last = (_size(x, 1) - len(taps)) // stride_y * stride_y
    out = None
    for i, row in enumerate(taps):
        part = _taps(x, row, 2, stride_x)[:, i : i + last + 1 : stride_y]
        out = part if out is None else out + part
    return out


def _padding_arg(pad_y, pad_x):
    """'VALID', or the explicit NHWC padding of a depthwise convolution."""
    if max(pad_y + pad_x) == 0:
        return "VALID"
    return [[0, 0], list(pad_y), list(pad_x), [0, 0]]


def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl=None):
    """Filters images with `f`, padded so that the output has the input's size.

    `padding` adds to (or, negative, crops from) that default.
    """
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [padx0 + fw // 2, padx1 + (fw - 1) // 2, pady0 + fh // 2, pady1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Upsamples images by `up` with the FIR filter `f`; output size is input size * up.

    The filter gain is multiplied by `upx * upy` to keep the signal magnitude.
    """
    upx, upy = _pair(up, "up")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [padx0 + (fw + upx - 1) // 2, padx1 + (fw - upx) // 2, pady0 + (fh + upy - 1) // 2, pady1 + (fh - upy) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy, impl=impl)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl=None):
    """Downsamples images by `down` with the FIR filter `f`; output size is input / down."""
    downx, downy = _pair(down, "down")
    padx0, padx1, pady0, pady1 = parse_padding(padding)
    fw, fh = filter_size(f)
    p = [
        padx0 + (fw - downx + 1) // 2,
        padx1 + (fw - downx) // 2,
        pady0 + (fh - downy + 1) // 2,
        pady1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
