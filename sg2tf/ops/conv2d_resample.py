"""2D convolution fused with FIR up/downsampling, NHWC, as the StyleGAN2 layers use it.

Two flavours share the same resampling logic:
  * `conv2d_resample(x, w, ...)`: one weight `[k, k, in, out]` for the whole batch.
  * `batched_conv2d_resample(x, ww, ...)`: one weight per sample `[N, k, k, in, out]`
    (the "fused" modulated convolution). TensorFlow has no grouped convolution on
    CPU and TFLite has none at all, so this is an im2col + batched matmul, built
    from builtin ops only.

Upsampling follows the original: a stride-2 transposed convolution followed by the
FIR filter (padding applied once). Downsampling filters first, then convolves with
stride 2.
"""

import tensorflow as tf

from sg2tf.ops.broadcast import reduced_precision
from sg2tf.ops.gradient import custom_gradient
from sg2tf.ops.upfirdn2d import filter_size, upfirdn2d


def _conv2d(x, w, strides, padding):
    """`tf.nn.conv2d` of `x` with the float32 `w` rounded to `x.dtype`. For float16 and
    bfloat16 `x`, the weight's gradient (a sum over batch and pixels, which TensorFlow's CPU
    kernels accumulate partly in float16) is computed in float32, at every order."""
    if not reduced_precision(x):
        return tf.nn.conv2d(x, tf.cast(w, x.dtype), strides=strides, padding=padding)

    @custom_gradient
    def conv(x, w):
        def grad(dy):
            dx = _conv2d_transpose(dy, w, tf.shape(x), strides, padding)
            return dx, _filter_grad(x, w, dy, strides, padding)

        return tf.nn.conv2d(x, tf.cast(w, x.dtype), strides=strides, padding=padding), grad

    return conv(x, w)


def _conv2d_transpose(x, w, output_shape, strides, padding):
    """`tf.nn.conv2d_transpose` (the gradient of `_conv2d` with respect to its input), with
    `w` `[k, k, out, in]` and its gradient as in `_conv2d`; for float16 and bfloat16 `x`
    summed in float32 and rounded once to `x.dtype`."""
    if not reduced_precision(x):
        return tf.nn.conv2d_transpose(x, tf.cast(w, x.dtype), output_shape, strides=strides, padding=padding)

    @custom_gradient
    def conv_t(x, w):
        # TensorFlow's CPU float16 kernel (Conv2DBackpropInput) accumulates in float16: 2.3e-3
        # off over 9x256 terms, against 2.1e-4 for one rounding. Computed in float32 from the
        # float16 operands and rounded once, as the official code's convolutions are.
        x32, w32 = tf.cast(x, tf.float32), tf.cast(tf.cast(w, x.dtype), tf.float32)
        y = tf.nn.conv2d_transpose(x32, w32, output_shape, strides=strides, padding=padding)
        y = tf.cast(y, x.dtype)

        def grad(dy):
            return _conv2d(dy, w, strides, padding), _filter_grad(dy, w, x, strides, padding)

        return y, grad

    return conv_t(x, w)


def _filter_grad(x, w, dy, strides, padding):
    """The gradient of `conv2d(x, w)` with respect to `w`, in float32."""
    return tf.raw_ops.Conv2DBackpropFilter(
        input=tf.cast(x, tf.float32),
        filter_sizes=tf.shape(w),
        out_backprop=tf.cast(dy, tf.float32),
        strides=strides,
        padding=padding,
    )


def _check_arguments(where, k_h, k_w, up, down):
    """Checks the kernel size and resampling factors; returns the kernel size."""
    if up > 1 and down > 1:
        raise ValueError(f"{where}: up and down cannot both be > 1")
    if k_h != k_w or k_h % 2 != 1:
        raise ValueError(f"convolution kernels must be square and odd, got {k_h}x{k_w}")
    return int(k_h)


def _up_fir_padding(f, kernel, up):
    fw, _ = filter_size(f)
    p = (fw - up) - (kernel - 1)
    return [(p + 1) // 2 + up - 1, p // 2 + 1] * 2


def _down_fir_padding(f, kernel, down):
    fw, _ = filter_size(f)
    p = (fw - down) + (kernel - 1)
    return [(p + 1) // 2, p // 2] * 2


def conv2d_resample(x, w, f=None, up=1, down=1, impl=None):
    """Convolution with 'same' padding and optional 2x FIR resampling.

    Args:
      x: `[N, H, W, in]`.
      w: `[k, k, in, out]` (k odd); already scaled.
      f: FIR filter from `setup_filter` (used when up or down is > 1).
      up: 1 or an integer factor (output `H * up`).
      down: 1 or an integer factor (output `H / down`).
      impl: op implementation for the FIR part (see `sg2tf.ops.dispatch`).

    Returns:
      `[N, H * up / down, W * up / down, out]`.
    """
    kernel = _check_arguments("conv2d_resample", int(w.shape[0]), int(w.shape[1]), up, down)
    if up > 1:
        # conv2d_transpose scatters with the kernel; flipping it makes the result a
        # correlation of the zero-upsampled input with w, as in the original.
        shape = tf.shape(x)
        out_shape = tf.stack([shape[0], (shape[1] - 1) * up + kernel, (shape[2] - 1) * up + kernel, tf.shape(w)[3]])
        w_t = tf.transpose(tf.reverse(w, axis=[0, 1]), [0, 1, 3, 2])
        x = _conv2d_transpose(x, w_t, out_shape, [1, up, up, 1], "VALID")
        x = tf.ensure_shape(x, [None, None, None, w.shape[3]])
        return upfirdn2d(x, f, padding=_up_fir_padding(f, kernel, up), gain=up * up, impl=impl)
    if down > 1:
        x = upfirdn2d(x, f, padding=_down_fir_padding(f, kernel, down), impl=impl)
        return _conv2d(x, w, [1, down, down, 1], "VALID")
    return _conv2d(x, w, [1, 1, 1, 1], "SAME")


def _batched_conv2d_valid(x, ww, stride=1):
    """Per-sample VALID correlation: x `[N, H, W, I]`, ww `[N, k, k, I, O]`."""
    kernel = int(ww.shape[1])
    in_ch, out_ch = int(ww.shape[3]), int(ww.shape[4])
    if x.shape[0] == 1:
        # One sample: a plain convolution (and a plain CONV_2D in TFLite).
        return tf.nn.conv2d(x, ww[0], strides=stride, padding="VALID")
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    out_h = (h - kernel) // stride + 1
    out_w = (w - kernel) // stride + 1
    if kernel == 1 and stride == 1:
        cols = tf.reshape(x, [n, h * w, in_ch])
    else:
        patches = []
        for i in range(kernel):
            for j in range(kernel):
                patches.append(
                    x[:, i : i + stride * (out_h - 1) + 1 : stride, j : j + stride * (out_w - 1) + 1 : stride, :]
                )
        cols = tf.reshape(tf.concat(patches, axis=-1), [n, out_h * out_w, kernel * kernel * in_ch])
    y = tf.matmul(cols, tf.reshape(ww, [n, kernel * kernel * in_ch, out_ch]))
    return tf.reshape(y, [n, out_h, out_w, out_ch])


def batched_conv2d_resample(x, ww, f=None, up=1, down=1, impl=None):
    """Like `conv2d_resample`, with a different weight for every sample.

    Args:
      x: `[N, H, W, in]`.
      ww: `[N, k, k, in, out]`.
    """
    kernel = _check_arguments("batched_conv2d_resample", int(ww.shape[1]), int(ww.shape[2]), up, down)
    ww = tf.cast(ww, x.dtype)
    if up > 1:
        # Zero-insert and pad by k-1 (the trailing inserted zero counts as one), then
        # a VALID correlation gives the transposed convolution's (H-1)*up+k output.
        x = upfirdn2d(x, None, up=up, padding=[kernel - 1, kernel - up] * 2, impl=impl)
        x = _batched_conv2d_valid(x, ww)
        return upfirdn2d(x, f, padding=_up_fir_padding(f, kernel, up), gain=up * up, impl=impl)
    if down > 1:
        x = upfirdn2d(x, f, padding=_down_fir_padding(f, kernel, down), impl=impl)
        return _batched_conv2d_valid(x, ww, stride=down)
    pad = kernel // 2
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return _batched_conv2d_valid(x, ww)
