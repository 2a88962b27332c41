#!/usr/bin/env bash
# Builds sg2tf's custom TensorFlow ops (custom_ops/) with Bazel and installs the library
# into sg2tf/_lib/, then checks that it loads.
#
#   scripts/build_ops.sh [--cuda] [--python PATH] [--jobs N] [--no-verify]
#
#   --cuda        also compile the CUDA kernels (needs nvcc: CUDA_PATH or PATH).
#   --python      the Python whose TensorFlow to build against (default: $PYTHON, the
#                 active virtualenv's python, else python3 on PATH).
#   --jobs        Bazel parallelism (default: $SG2TF_BAZEL_JOBS or 2).
#   --no-verify   skip the load check.
#
# Exits non-zero with a message on failure; sg2tf then keeps using its reference ops.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CUDA=0
VERIFY=1
JOBS="${SG2TF_BAZEL_JOBS:-2}"
PYTHON_BIN="${PYTHON:-}"

die() { echo "build_ops.sh: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuda) CUDA=1 ;;
    --python) shift; PYTHON_BIN="${1:-}" ;;
    --jobs) shift; JOBS="${1:-2}" ;;
    --no-verify) VERIFY=0 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

if [[ -z "$PYTHON_BIN" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    PYTHON_BIN="$VIRTUAL_ENV/bin/python"
  elif [[ -x "$ROOT/.venv/bin/python" ]]; then
    PYTHON_BIN="$ROOT/.venv/bin/python"
  else
    PYTHON_BIN="$(command -v python3 || true)"
  fi
fi
[[ -n "$PYTHON_BIN" && -x "$PYTHON_BIN" ]] || die "no Python found; pass --python PATH"
PYTHON_BIN="$(cd "$(dirname "$PYTHON_BIN")" && pwd)/$(basename "$PYTHON_BIN")"
TF_CPP_MIN_LOG_LEVEL=3 "$PYTHON_BIN" -c "import tensorflow" 2>/dev/null \
  || die "$PYTHON_BIN cannot import tensorflow; install sg2tf's requirements first"

BAZEL="${BAZEL:-$(command -v bazel || command -v bazelisk || true)}"
if [[ -z "$BAZEL" ]]; then
  die "Bazel not found. Install it, e.g. 'sudo apt-get install bazel-bootstrap' (Debian/Ubuntu,
       Bazel 4.2.3, builds offline) or Bazelisk (https://github.com/bazelbuild/bazelisk),
       or set BAZEL=/path/to/bazel."
fi

ARGS=(build "--jobs=$JOBS" "--repo_env=PYTHON_BIN_PATH=$PYTHON_BIN")
if [[ $CUDA == 1 ]]; then
  NVCC="$(command -v nvcc || true)"
  [[ -n "${CUDA_PATH:-}" && -x "${CUDA_PATH}/bin/nvcc" ]] && NVCC="$CUDA_PATH/bin/nvcc"
  [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
  [[ -n "$NVCC" ]] || die "--cuda needs nvcc (install the CUDA toolkit, set CUDA_PATH)"
  ARGS+=(--config=cuda)
fi

echo "build_ops.sh: building with $BAZEL against $("$PYTHON_BIN" -c 'import sys; print(sys.executable)') (cuda=$CUDA)"
cd "$ROOT"
START=$(date +%s)
"$BAZEL" "${ARGS[@]}" //custom_ops:_sg2tf_ops.so || die "bazel build failed (see above)"
echo "build_ops.sh: built in $(( $(date +%s) - START ))s"

SRC="$ROOT/bazel-bin/custom_ops/_sg2tf_ops.so"
[[ -f "$SRC" ]] || die "bazel reported success but $SRC is missing"
mkdir -p "$ROOT/sg2tf/_lib"
DEST="$ROOT/sg2tf/_lib/_sg2tf_ops.so"
rm -f "$DEST"
cp "$SRC" "$DEST"
chmod 0755 "$DEST"
echo "build_ops.sh: installed $DEST"

if [[ $VERIFY == 1 ]]; then
  SG2TF_OPS_LIBRARY="$DEST" TF_CPP_MIN_LOG_LEVEL=3 "$PYTHON_BIN" - <<'PY' || die "the library does not load (see above)"
import sys
import numpy as np
import tensorflow as tf
sys.path.insert(0, ".")
from sg2tf.ops import _custom, bias_act, upfirdn2d, setup_filter
lib, reason = _custom.load_library()
if lib is None:
    sys.exit(f"load failed: {reason}")
x = tf.constant(np.random.default_rng(0).normal(size=[1, 5, 5, 3]), tf.float32)
f = setup_filter([1, 3, 3, 1])
for name, fn in [("upfirdn2d", lambda impl: upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], impl=impl)),
                 ("bias_act", lambda impl: bias_act(x, tf.ones([3]), act="lrelu", impl=impl))]:
    err = float(tf.reduce_max(tf.abs(fn("custom") - fn("ref"))))
    if not err < 1e-5:
        sys.exit(f"{name}: custom and reference ops disagree (max error {err})")
from sg2tf.data.image_records import decode_image_examples
img = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
rec = tf.constant([tf.train.Example(features=tf.train.Features(feature={
    "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 4, 4])),
    "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()]))})).SerializeToString()])
for dtype in ("uint8", "float32"):
    a, b = (decode_image_examples(rec, (3, 4, 4), flip=[True], dtype=dtype, impl=i) for i in ("ref", "custom"))
    if a.numpy().tobytes() != b.numpy().tobytes():
        sys.exit(f"image records ({dtype}): custom and reference ops disagree")
info = lib.sg2tf_build_info
print(f"build_ops.sh: library OK (TensorFlow {info['tf_version']}, cuda={info['cuda']})")
PY
fi
