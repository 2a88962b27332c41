"""Loader and Python wrappers of the compiled sg2tf op library (`custom_ops/`, Bazel).

The library `_sg2tf_ops.so` holds the ops `Sg2tf>FusedBiasAct`, `Sg2tf>FusedBiasActGrad`
and `Sg2tf>UpFirDn2D` (CPU kernels, and CUDA kernels when built with `--config=cuda`), and
the input pipeline's `Sg2tf>DecodeImageExamples` and `Sg2tf>ReadImageRecords` (CPU).
It is looked for, in order:

  1. `$SG2TF_OPS_LIBRARY` (a path; when set, nothing else is tried),
  2. `sg2tf/_lib/_sg2tf_ops.so` inside the installed package (scripts/build_ops.sh copies
     it there),
  3. `bazel-bin/custom_ops/_sg2tf_ops.so` of the source checkout.

Loading is lazy (first use, never at import) and happens once per process. Before
TensorFlow loads it, the library's build facts (embedded as a marked string) are checked
against this Python package and the running TensorFlow: op interface version,
TensorFlow major.minor version and C++ ABI. Every failure becomes a reason string that
`dispatch` shows in its fallback warning or error.

The wrappers `upfirdn2d` and `bias_act` are called by `sg2tf.ops.upfirdn2d` /
`sg2tf.ops.bias_act` when the custom implementation is selected; they register their
gradients with TensorFlow:

  * upfirdn2d: the gradient is upfirdn2d of dy with up/down swapped, the filter flipped
    and the padding adjusted -- the same op, so derivatives of any order work.
  * bias_act: `Sg2tf>FusedBiasActGrad` of order 1 computes dx; its own gradient uses the
    same op (order 2 for x, order 1 for dy), so double backprop (R1, path length) works;
    derivatives up to third order are available.
"""

import importlib
import os
import pathlib
import re
import threading

import numpy as np
import tensorflow as tf

from sg2tf.ops.gradient import custom_gradient

LIBRARY_NAME = "_sg2tf_ops.so"
ENV_LIBRARY = "SG2TF_OPS_LIBRARY"
# Must equal SG2TF_OPS_API_VERSION in custom_ops/build_defs.bzl.
API_VERSION = 2
MAX_BIAS_ACT_ORDER = 3

_SUPPORTED_DTYPES = (tf.float16, tf.float32)
_PIECEWISE_LINEAR = ("linear", "relu", "lrelu")
_BUILD_HINT = "build it with `scripts/build_ops.sh` (see docs/custom_ops.md)"

# The Python functions of the ops the library must hold.
OP_FUNCTIONS = (
    "sg2tf_fused_bias_act",
    "sg2tf_fused_bias_act_grad",
    "sg2tf_up_fir_dn2d",
    "sg2tf_decode_image_examples",
    "sg2tf_read_image_records",
)

_lock = threading.Lock()
_result = None  # (module or None, reason or None) once loading was attempted.
_gradients_registered = False


def _package_dir():
    return pathlib.Path(__file__).resolve().parents[1]


def candidate_paths():
    """The paths tried, in order (only `$SG2TF_OPS_LIBRARY` when it is set)."""
    env = os.environ.get(ENV_LIBRARY, "").strip()
    if env:
        return [pathlib.Path(env)]
    return [
        _package_dir() / "_lib" / LIBRARY_NAME,
        _package_dir().parent / "bazel-bin" / "custom_ops" / LIBRARY_NAME,
    ]


def read_build_info(path):
    """Returns the build facts embedded in the library file as a dict (without loading it).

    Raises ValueError when the file carries none.
    """
    data = pathlib.Path(path).read_bytes()
    match = re.search(rb"<sg2tf-build-info>(.*?)</sg2tf-build-info>", data, re.S)
    if match is None:
        raise ValueError("no sg2tf build information in the file")
    info = {}
    for item in match.group(1).decode("utf-8", "replace").split(";"):
        key, _, value = item.partition("=")
        info[key.strip()] = value.strip()
    return info


def _tf_cxx11_abi():
    for flag in tf.sysconfig.get_compile_flags():
        if flag.startswith("-D_GLIBCXX_USE_CXX11_ABI="):
            return flag.split("=", 1)[1]
    return None


def _major_minor(version):
    return ".".join(version.split(".")[:2])


def check_build_info(info):
    """Returns None when the library fits this sg2tf and TensorFlow, else the reason."""
    if info.get("api") != str(API_VERSION):
        return f"it implements op interface version {info.get('api')}, this sg2tf needs {API_VERSION}; rebuild it"
    built = info.get("tf_version", "?")
    if _major_minor(built) != _major_minor(tf.__version__):
        return f"it was built for TensorFlow {built}, but TensorFlow {tf.__version__} is running; rebuild it"
    abi = _tf_cxx11_abi()
    if abi is not None and info.get("cxx11_abi") != abi:
        return f"it was built with _GLIBCXX_USE_CXX11_ABI={info.get('cxx11_abi')}, TensorFlow uses {abi}; rebuild it"
    return None


def _load():
    paths = candidate_paths()
    existing = [p for p in paths if p.is_file()]
    if not existing:
        where = ", ".join(str(p) for p in paths)
        return None, f"the compiled op library was not found (looked at {where}); {_BUILD_HINT}"
    path = existing[0]
    try:
        info = read_build_info(path)
    except (OSError, ValueError) as e:
        return None, f"{path} is not a usable sg2tf op library ({e}); {_BUILD_HINT}"
    problem = check_build_info(info)
    if problem is not None:
        return None, f"{path}: {problem} ({_BUILD_HINT})"
    try:
        module = tf.load_op_library(str(path))
    except Exception as e:  # TensorFlow raises NotFoundError or RuntimeError types.
        return None, f"TensorFlow could not load {path}: {e}"
    missing = [name for name in OP_FUNCTIONS if not hasattr(module, name)]
    if missing:
        return None, f"{path} lacks the ops {missing}; {_BUILD_HINT}"
    module.sg2tf_build_info = info
    module.sg2tf_path = str(path)
    _register_gradients()
    return module, None


def load_library():
    """Returns `(module, None)` with the loaded op module, or `(None, reason)`.

    The first call loads the library; later calls return the same answer.
    """
    global _result
    result = _result
    if result is None:
        with _lock:
            if _result is None:
                _result = _load()
            result = _result
    return result


def _library():
    module, reason = load_library()
    if module is None:
        raise RuntimeError(f"sg2tf custom ops are not available: {reason}")
    return module


# --------------------------------------------------------------------------- bias_act


def _bias_act_attrs(op):
    return dict(
        act=op.get_attr("act").decode() if isinstance(op.get_attr("act"), bytes) else op.get_attr("act"),
        alpha=op.get_attr("alpha"),
        gain=op.get_attr("gain"),
        clamp=op.get_attr("clamp"),
        axis=op.get_attr("axis"),
    )


def _reduce_to_bias(dx, b, axis):
    """Sums dx over all axes but `axis` in float32 (TensorFlow's CPU sum of float16 runs in
    float16): the gradient of the bias, in `b`'s dtype (empty without one)."""
    if b.shape.rank == 1 and b.shape[0] == 0:
        return tf.zeros_like(b)
    dx = tf.cast(dx, tf.float32)
    rank = dx.shape.rank
    if rank is not None:
        axis = axis % rank
        return tf.cast(tf.reduce_sum(dx, axis=[i for i in range(rank) if i != axis]), b.dtype)
    rank_t = tf.rank(dx)
    axis_t = tf.math.floormod(axis, rank_t)
    axes = tf.boolean_mask(tf.range(rank_t), tf.not_equal(tf.range(rank_t), axis_t))
    return tf.cast(tf.reshape(tf.reduce_sum(dx, axis=axes), tf.shape(b)), b.dtype)


def _bias_act_grad(op, dy):
    attrs = _bias_act_attrs(op)
    x, b = op.inputs
    dx = _library().sg2tf_fused_bias_act_grad(dy, x, b, order=1, **attrs)
    return dx, _reduce_to_bias(dx, b, attrs["axis"])


def _bias_act_grad_grad(op, ddx):
    attrs = _bias_act_attrs(op)
    order = op.get_attr("order")
    dy, x, b = op.inputs
    lib = _library()
    # dx = dy * D_order(x + b): linear in dy, and d/dx brings D_(order+1).
    d_dy = lib.sg2tf_fused_bias_act_grad(ddx, x, b, order=order, **attrs)
    if attrs["act"] in _PIECEWISE_LINEAR:
        d_x = tf.zeros_like(x)
    else:
        if order + 1 > MAX_BIAS_ACT_ORDER:
            raise NotImplementedError(
                f"the custom bias_act op has derivatives up to order {MAX_BIAS_ACT_ORDER}; "
                "use impl='ref' for higher orders"
            )
        d_x = lib.sg2tf_fused_bias_act_grad(ddx * dy, x, b, order=order + 1, **attrs)
    return d_dy, d_x, _reduce_to_bias(d_x, b, attrs["axis"])


def bias_act(x, b, axis=-1, act="linear", alpha=0.0, gain=1.0, clamp=-1.0):
    """`clamp(act(x + b) * gain)` with the fused kernel (see sg2tf.ops.bias_act).

    float16 and float32 run the kernel; other dtypes use the reference ops.
    """
    x = tf.convert_to_tensor(x)
    if x.dtype not in _SUPPORTED_DTYPES:
        ref = importlib.import_module("sg2tf.ops.bias_act")
        return ref._bias_act_ref(x, b, axis, ref.activation(act), alpha, gain, clamp)
    attrs = dict(act=act, alpha=float(alpha), gain=float(gain), clamp=float(clamp), axis=int(axis))
    if b is None:
        return _library().sg2tf_fused_bias_act(x, tf.zeros([0], dtype=x.dtype), **attrs)
    b = tf.convert_to_tensor(b)
    rank = x.shape.rank
    if rank is not None and (
        b.shape.rank != 1
        or (x.shape[axis % rank] is not None and b.shape[0] is not None and b.shape[0] != x.shape[axis % rank])
    ):
        raise ValueError(f"bias of shape {b.shape} does not match axis {axis} of {x.shape}")
    if b.dtype == x.dtype:
        return _library().sg2tf_fused_bias_act(x, b, **attrs)
    return _bias_act_cast_bias(x, b, attrs)


def _bias_act_cast_bias(x, b, attrs):
    """The op with `b` rounded to `x.dtype`, and `b`'s gradient summed in float32 and returned
    in `b`'s own dtype (a float32 bias of a float16 layer gets no float16 gradient sum)."""

    @custom_gradient
    def fused(x, b):
        def grad(dy):
            # The cast again, here: the gradient's own gradient (R1, path length) must see
            # it (what the forward computes is not recorded on an outer tape).
            dx = _library().sg2tf_fused_bias_act_grad(dy, x, tf.cast(b, x.dtype), order=1, **attrs)
            return dx, _reduce_to_bias(dx, b, attrs["axis"])

        return _library().sg2tf_fused_bias_act(x, tf.cast(b, x.dtype), **attrs), grad

    return fused(x, b)


# -------------------------------------------------------------------------- upfirdn2d


def _out_size(size, up, pad0, pad1, taps, down):
    return (size * up + pad0 + pad1 - taps) // down + 1


def _upfirdn2d_grad(op, dy):
    x, f = op.inputs
    upx, upy = op.get_attr("upx"), op.get_attr("upy")
    downx, downy = op.get_attr("downx"), op.get_attr("downy")
    padx0, padx1 = op.get_attr("padx0"), op.get_attr("padx1")
    pady0, pady1 = op.get_attr("pady0"), op.get_attr("pady1")
    fh = int(f.shape[0])
    fw = int(f.shape[-1])
    in_h, in_w = x.shape[1], x.shape[2]

    # Window position j of output o reads input i where o*down + j = i*up + pad0; with
    # the roles of x and y exchanged this is upfirdn2d with up<->down, the filter
    # reversed, leading padding taps-1-pad0, and trailing padding making the output as
    # long as x. Without static sizes, the trailing padding is its upper bound
    # taps-pad1-up and the surplus is sliced off.
    def pads(size, up, down, pad0, pad1, taps):
        p0 = taps - pad0 - 1
        if size is None:
            return p0, taps - pad1 - up, True
        out = _out_size(size, up, pad0, pad1, taps, down)
        return p0, size * up - out * down + pad0 - up + 1, False

    gy0, gy1, slice_y = pads(in_h, upy, downy, pady0, pady1, fh)
    gx0, gx1, slice_x = pads(in_w, upx, downx, padx0, padx1, fw)
    dx = _library().sg2tf_up_fir_dn2d(
        dy,
        f,
        upx=downx,
        upy=downy,
        downx=upx,
        downy=upy,
        padx0=gx0,
        padx1=gx1,
        pady0=gy0,
        pady1=gy1,
        flip_filter=not op.get_attr("flip_filter"),
        gain=op.get_attr("gain"),
    )
    if slice_x or slice_y:
        shape = tf.shape(x)
        dx = dx[:, : shape[1], : shape[2], :]
    return dx, None


def upfirdn2d(x, f, upx=1, upy=1, downx=1, downy=1, padx0=0, padx1=0, pady0=0, pady1=0, flip_filter=False, gain=1):
    """upfirdn2d with the compiled kernel (see sg2tf.ops.upfirdn2d for the semantics).

    `f`: numpy array or tensor, 1-D (separable) or 2-D; no gradient flows to it.
    float16 and float32 run the kernel; other dtypes use the reference ops.
    """
    x = tf.convert_to_tensor(x)
    if x.dtype not in _SUPPORTED_DTYPES:
        ref = importlib.import_module("sg2tf.ops.upfirdn2d")
        return ref._upfirdn2d_ref(x, f, upx, upy, downx, downy, padx0, padx1, pady0, pady1, flip_filter, gain)
    if x.shape.rank != 4:
        raise ValueError(f"upfirdn2d expects NHWC input of rank 4, got shape {x.shape}")
    if isinstance(f, np.ndarray) or not tf.is_tensor(f):
        f = tf.constant(np.asarray(f, dtype=np.float32))
    else:
        f = tf.stop_gradient(tf.cast(f, tf.float32))
    if f.shape.rank not in (1, 2):
        raise ValueError(f"FIR filter must be 1-D or 2-D, got shape {f.shape}")
    if f.shape.num_elements() is None:
        raise ValueError("the FIR filter needs a static shape")
    return _library().sg2tf_up_fir_dn2d(
        x,
        f,
        upx=int(upx),
        upy=int(upy),
        downx=int(downx),
        downy=int(downy),
        padx0=int(padx0),
        padx1=int(padx1),
        pady0=int(pady0),
        pady1=int(pady1),
        flip_filter=bool(flip_filter),
        gain=float(gain),
    )


# ---------------------------------------------------------------------- image records


def decode_image_examples(serialized, index, flip, table, *, shape, filename=""):
    """`Sg2tf>DecodeImageExamples` (see sg2tf.data.image_records.decode_image_examples)."""
    return _library().sg2tf_decode_image_examples(serialized, index, flip, table, shape=shape, filename=filename)


def read_image_records(index, flip, table, *, shape, filename, record_bytes, num_records):
    """`Sg2tf>ReadImageRecords` (see sg2tf.data.image_records.read_image_records)."""
    return _library().sg2tf_read_image_records(
        index, flip, table, shape=shape, filename=filename, record_bytes=record_bytes, num_records=num_records
    )


def _register_gradients():
    global _gradients_registered
    if _gradients_registered:
        return
    for name, fn in (
        ("Sg2tf>FusedBiasAct", _bias_act_grad),
        ("Sg2tf>FusedBiasActGrad", _bias_act_grad_grad),
        ("Sg2tf>UpFirDn2D", _upfirdn2d_grad),
    ):
        try:
            tf.RegisterGradient(name)(fn)
        except KeyError:  # Registered already (module reloaded).
            pass
    _gradients_registered = True
