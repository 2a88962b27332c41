#!/usr/bin/env bash
# GPU check of sg2tf's CUDA kernels (bias_act, upfirdn2d) without TensorFlow.
#
#   scripts/gpu_check.sh [--out DIR] [--compile-only] [--arch SM] [--official DIR]
#                        [--no-sanitizer] [--no-bench] [--budget SECONDS]
#   scripts/gpu_check.sh --prepare [--official DIR]
#
# Builds a harness library (scripts/gpu_check/capi.cc: the CPU kernels' TensorFlow-free
# headers, linked with the ops' own .cu.cc files compiled by nvcc with the flags of
# custom_ops/build_defs.bzl), then runs scripts/gpu_check/gpu_check.py:
#   with a GPU     parity of the CUDA kernels against the CPU kernels and a numpy
#                  reference (every case, float32 and float16, forward and gradients),
#                  the float16 gradients that sg2tf sums (bias, upfirdn2d's for the convolution
#                  weights) at a 256 px block's size, summed in float32, against float64;
#                  compute-sanitizer memcheck on the small cases, and timings against the
#                  official stylegan2-ada-pytorch kernels (compiled by PyTorch from the
#                  checkout given by --official, default .gpu_check/carry/official) with
#                  bias_act's bandwidth against the device's;
#   without one    (or --compile-only) the build, and the CPU kernels against the numpy
#                  reference on every case but the large ones.
# Writes DIR/gpu_check.json and DIR/gpu_check.log (DIR: --out, default .gpu_check/out).
#
# --prepare fills .gpu_check/carry/ (ignored by git) with what a GPU machine lacks: the
# Eigen headers (from this machine's TensorFlow) and the official ops' sources (from
# --official, default $SG2TF_OFFICIAL or /work/ext/stylegan2-ada-pytorch). Carry that
# folder to the GPU machine; docs/custom_ops.md ("GPU check") gives the command.
#
# Environment: NVCC or CUDA_PATH (nvcc), PYTHON (default python3; the GPU run needs numpy,
# and torch for the timings), SG2TF_EIGEN_INCLUDE (a folder holding Eigen/Core).
# Exit status: 0 when every check that ran passed, non-zero otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="$ROOT/.gpu_check"
CARRY="$WORK/carry"
OUT_DIR="$WORK/out"
MODE=auto
ARCH=""
OFFICIAL=""
PREPARE=0
BUDGET=300
PY_ARGS=()
START=$(date +%s)

die() { echo "gpu_check.sh: error: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) shift; OUT_DIR="${1:?--out needs a folder}" ;;
    --compile-only) MODE=compile-only ;;
    --arch) shift; ARCH="${1:?--arch needs a number such as 90}" ;;
    --official) shift; OFFICIAL="${1:?--official needs a folder}" ;;
    --prepare) PREPARE=1 ;;
    --budget) shift; BUDGET="${1:?--budget needs seconds}" ;;
    --no-sanitizer|--no-bench) PY_ARGS+=("$1") ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

PYTHON_BIN="${PYTHON:-$(command -v python3 || true)}"
[[ -n "$PYTHON_BIN" ]] || die "no python3 found; set PYTHON"

find_eigen() {
  local d
  for d in "${SG2TF_EIGEN_INCLUDE:-}" "$CARRY/eigen"; do
    [[ -n "$d" && -f "$d/Eigen/Core" ]] && { echo "$d"; return; }
  done
  # TensorFlow's headers, found without importing TensorFlow.
  local py
  for py in "$PYTHON_BIN" "$ROOT/.venv/bin/python"; do
    [[ -x "$py" ]] || continue
    d="$("$py" -c 'import importlib.util as u, os
s = u.find_spec("tensorflow")
print(os.path.join(s.submodule_search_locations[0], "include") if s else "")' 2>/dev/null || true)"
    [[ -n "$d" && -f "$d/Eigen/Core" ]] && { echo "$d"; return; }
  done
  [[ -f /usr/include/eigen3/Eigen/Core ]] && { echo /usr/include/eigen3; return; }
  echo ""
}

if [[ $PREPARE == 1 ]]; then
  SRC="${OFFICIAL:-${SG2TF_OFFICIAL:-/work/ext/stylegan2-ada-pytorch}}"
  [[ -f "$SRC/torch_utils/ops/bias_act.cu" ]] || die "no stylegan2-ada-pytorch checkout at $SRC"
  EIGEN="$(SG2TF_EIGEN_INCLUDE="" find_eigen)"
  [[ -n "$EIGEN" && "$EIGEN" != "$CARRY/eigen" ]] || die "no Eigen headers found (TensorFlow's)"
  rm -rf "$CARRY"
  mkdir -p "$CARRY/eigen" "$CARRY/official/torch_utils/ops"
  cp -r "$EIGEN/Eigen" "$CARRY/eigen/"
  for f in bias_act.cpp bias_act.cu bias_act.h upfirdn2d.cpp upfirdn2d.cu upfirdn2d.h; do
    cp "$SRC/torch_utils/ops/$f" "$CARRY/official/torch_utils/ops/"
  done
  [[ -f "$SRC/LICENSE.txt" ]] && cp "$SRC/LICENSE.txt" "$CARRY/official/"
  echo "gpu_check.sh: prepared $CARRY ($(du -sh "$CARRY" | cut -f1)); carry '.gpu_check/carry'"
  exit 0
fi

NVCC="${NVCC:-}"
[[ -z "$NVCC" && -n "${CUDA_PATH:-}" && -x "$CUDA_PATH/bin/nvcc" ]] && NVCC="$CUDA_PATH/bin/nvcc"
[[ -z "$NVCC" ]] && NVCC="$(command -v nvcc || true)"
[[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
EIGEN="$(find_eigen)"
[[ -n "$EIGEN" ]] || die "no Eigen headers (Eigen/Core): run '$0 --prepare' where TensorFlow is \
installed and carry .gpu_check/carry, or set SG2TF_EIGEN_INCLUDE"

if [[ -z "$ARCH" ]]; then
  CAP="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 || true)"
  ARCH="${CAP//./}"
  [[ "$ARCH" =~ ^[0-9]+$ ]] || ARCH=90
fi

# Flags of custom_ops/build_defs.bzl (NVCC_FLAGS, SG2TF_COPTS with TF_COPTS).
NVCC_FLAGS=(-x cu -std=c++17 -O3 -DGOOGLE_CUDA=1 -Xcompiler -fPIC --expt-relaxed-constexpr
            "-gencode=arch=compute_$ARCH,code=sm_$ARCH" "-I$ROOT")
CXX="${CXX:-g++}"
CXX_FLAGS=(-std=c++17 -O3 -fPIC -fno-trapping-math -fno-math-errno -Wno-deprecated-declarations
           -Wno-sign-compare -Wno-psabi -D_GLIBCXX_USE_CXX11_ABI=1 -DEIGEN_MAX_ALIGN_BYTES=64
           "-I$ROOT" "-I$EIGEN")
SOURCES=(custom_ops/common/platform.h
         custom_ops/bias_act/cc/kernels/bias_act.h custom_ops/bias_act/cc/kernels/bias_act_cpu.h
         custom_ops/bias_act/cc/kernels/bias_act_gpu.h
         custom_ops/bias_act/cc/kernels/bias_act_kernels.cu.cc
         custom_ops/upfirdn2d/cc/kernels/upfirdn2d.h
         custom_ops/upfirdn2d/cc/kernels/upfirdn2d_cpu.h
         custom_ops/upfirdn2d/cc/kernels/upfirdn2d_gpu.h
         custom_ops/upfirdn2d/cc/kernels/upfirdn2d_kernels.cu.cc
         scripts/gpu_check/capi.cc)

if [[ -n "$NVCC" ]]; then
  # The toolkit's headers: nvcc may be a wrapper script, so ask it where they are.
  CUDA_INC=""
  for d in "${CUDA_PATH:-}" "$(dirname "$(readlink -f "$NVCC")")/.." /usr/local/cuda \
           "$("$NVCC" --dryrun -c -x cu /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -1)"; do
    [[ -n "$d" && -f "$d/include/cuda_runtime.h" ]] && { CUDA_INC="$d/include"; break; }
  done
  [[ -n "$CUDA_INC" ]] || die "cuda_runtime.h not found next to $NVCC; set CUDA_PATH"
  CXX_FLAGS+=(-DSG2TF_CHECK_CUDA=1 "-I$CUDA_INC")
  TOOLCHAIN="$("$NVCC" --version | tail -1) | $("$CXX" --version | head -1)"
else
  [[ $MODE == compile-only ]] || echo "gpu_check.sh: nvcc not found; CPU kernels only" >&2
  MODE=compile-only
  CXX_FLAGS+=(-DSG2TF_CHECK_CUDA=0)
  TOOLCHAIN="no nvcc | $("$CXX" --version | head -1)"
fi

# On a GPU also a variant whose CUDA kernels always take their 64-bit-index path.
WIDE=0
[[ -n "$NVCC" && $MODE != compile-only ]] && WIDE=1
# Build outputs are cached by a hash of the sources, flags and toolchain.
KEY="$( (cd "$ROOT" && cat "${SOURCES[@]}"; echo "${NVCC_FLAGS[*]} ${CXX_FLAGS[*]} $TOOLCHAIN $WIDE") \
        | sha256sum | cut -c1-16)"
BUILD="$WORK/build/sm_$ARCH-$KEY"
LIB="$BUILD/libsg2tf_gpu_check.so"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_check.log"
: > "$LOG"
say() { echo "$*" | tee -a "$LOG"; }

build() {
  local tmp="$BUILD.tmp.$$"
  # Leftovers of interrupted builds, and all but the newest few cached builds.
  rm -rf "$WORK/build/"*.tmp.*
  { ls -dt "$WORK/build/sm_"* 2>/dev/null || true; } | tail -n +4 | xargs -r rm -rf
  rm -rf "$tmp"
  mkdir -p "$tmp"
  local t0=$(date +%s) pids=() objs=("$tmp/capi.o")
  (cd "$ROOT" && "$CXX" "${CXX_FLAGS[@]}" -c scripts/gpu_check/capi.cc -o "$tmp/capi.o") \
    >"$tmp/capi.log" 2>&1 &
  pids+=($!)
  local wide_objs=("$tmp/capi.o")
  if [[ -n "$NVCC" ]]; then
    for src in bias_act/cc/kernels/bias_act_kernels.cu.cc \
               upfirdn2d/cc/kernels/upfirdn2d_kernels.cu.cc; do
      local obj="$tmp/$(basename "$src" .cu.cc).cu.o"
      objs+=("$obj")
      (cd "$ROOT" && "$NVCC" -c "${NVCC_FLAGS[@]}" "custom_ops/$src" -o "$obj") \
        >"$obj.log" 2>&1 &
      pids+=($!)
      if [[ $WIDE == 1 ]]; then
        obj="${obj%.cu.o}.wide.cu.o"
        wide_objs+=("$obj")
        (cd "$ROOT" && "$NVCC" -c "${NVCC_FLAGS[@]}" -DSG2TF_CUDA_FORCE_WIDE_INDEX=1 \
           "custom_ops/$src" -o "$obj") >"$obj.log" 2>&1 &
        pids+=($!)
      fi
    done
  fi
  local failed=0 pid
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  cat "$tmp"/*.log >> "$LOG" 2>/dev/null || true
  [[ $failed == 0 ]] || { cat "$tmp"/*.log >&2; die "compilation failed (see above)"; }
  if [[ -n "$NVCC" ]]; then
    "$NVCC" -shared -o "$tmp/libsg2tf_gpu_check.so" "${objs[@]}" >>"$LOG" 2>&1 \
      || die "linking with nvcc failed (see $LOG)"
    if [[ $WIDE == 1 ]]; then
      "$NVCC" -shared -o "$tmp/libsg2tf_gpu_check_wide.so" "${wide_objs[@]}" >>"$LOG" 2>&1 \
        || die "linking with nvcc failed (see $LOG)"
    fi
  else
    "$CXX" -shared -o "$tmp/libsg2tf_gpu_check.so" "${objs[@]}" >>"$LOG" 2>&1 \
      || die "linking failed (see $LOG)"
  fi
  rm -rf "$BUILD"
  mv "$tmp" "$BUILD"
  BUILD_SECONDS=$(( $(date +%s) - t0 ))
}

BUILD_SECONDS=0
CACHED=true
if [[ ! -f "$LIB" ]]; then
  CACHED=false
  say "gpu_check.sh: building sm_$ARCH harness in $BUILD (nvcc: ${NVCC:-none}, Eigen: $EIGEN)"
  build
fi
say "gpu_check.sh: library $LIB (cached: $CACHED, built in ${BUILD_SECONDS}s)"

cat > "$OUT_DIR/build_info.json" <<EOF
{"arch": "sm_$ARCH", "toolchain": "$TOOLCHAIN", "cached": $CACHED, "build_seconds": $BUILD_SECONDS,
 "nvcc_flags": "${NVCC_FLAGS[*]//$ROOT/.}", "cxx_flags": "${CXX_FLAGS[*]//$ROOT/.}"}
EOF

[[ -n "$OFFICIAL" ]] || OFFICIAL="$CARRY/official"
LEFT=$(( BUDGET - ($(date +%s) - START) ))
set +e
PYTHONUNBUFFERED=1 "$PYTHON_BIN" "$ROOT/scripts/gpu_check/gpu_check.py" --lib "$LIB" \
  --mode "$MODE" --report "$OUT_DIR/gpu_check.json" --official "$OFFICIAL" \
  --lib-wide "$BUILD/libsg2tf_gpu_check_wide.so" \
  --build-dir "$WORK/build/official" --budget "$LEFT" --build-info "$OUT_DIR/build_info.json" \
  ${PY_ARGS[@]+"${PY_ARGS[@]}"} 2>&1 | tee -a "$LOG"
RC=${PIPESTATUS[0]}
set -e
say "gpu_check.sh: finished in $(( $(date +%s) - START ))s with status $RC"
exit "$RC"
