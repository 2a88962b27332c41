#!/usr/bin/env bash
# sg2tf on a fresh machine, in one command:
#   ./run.sh demo [demo flags]   set up, then run the main job on the embedded dataset
#   ./run.sh test [pytest args]  set up, then run the test suite (what CI runs)
# Set-up is idempotent: a second run reuses the virtual environment and the built ops.
set -euo pipefail

cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${SG2TF_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
MIN_PY=3.10

say() { printf '\033[1m[sg2tf]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[sg2tf] error:\033[0m %s\n' "$*" >&2; exit 1; }

usage() {
  echo "usage: ./run.sh demo [flags] | ./run.sh test [pytest args]"
  exit 2
}

check_machine() {
  command -v "$PY" >/dev/null || die "$PY not found; install Python >= $MIN_PY"
  "$PY" -c "import sys; sys.exit(sys.version_info < (3, 10))" \
    || die "Python >= $MIN_PY is needed, $PY is $("$PY" -V 2>&1)"
  local free_kb need_kb=$((3 * 1024 * 1024))
  free_kb=$(df -Pk "$ROOT" | awk 'NR==2 {print $4}')
  [ "${free_kb:-0}" -ge "$need_kb" ] || die "need 3 GB free disk in $ROOT, have $((free_kb / 1024)) MB"
}

setup_venv() {
  local stamp="$VENV/.sg2tf-installed" want
  want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    say "virtual environment ready ($VENV)"
    return
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV" || die "could not create a virtual environment (python3-venv missing?)"
  fi
  say "installing sg2tf and its dependencies (TensorFlow is large: a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[test]" \
    || die "pip install failed; see the messages above"
  echo "$want" > "$stamp"
}

build_ops() {
  if [ "${SG2TF_SKIP_OPS_BUILD:-0}" = 1 ]; then
    say "SG2TF_SKIP_OPS_BUILD=1: using the reference TensorFlow ops"
    return
  fi
  if [ ! -x scripts/build_ops.sh ]; then
    say "custom ops are not part of this checkout: using the reference TensorFlow ops"
    return
  fi
  if ! command -v bazel >/dev/null && ! command -v bazel-bootstrap >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      say "installing Bazel (Debian bazel-bootstrap) to build the custom ops"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bazel-bootstrap) \
        >/dev/null 2>&1 || say "could not install bazel-bootstrap with apt"
    fi
  fi
  if command -v bazel >/dev/null || command -v bazel-bootstrap >/dev/null; then
    say "building the custom ops with Bazel"
    if PATH="$VENV/bin:$PATH" scripts/build_ops.sh; then
      return
    fi
    say "the custom-op build failed (messages above): continuing with the reference ops"
  else
    say "Bazel is not available (and apt is not usable): continuing with the reference ops"
  fi
}

cmd=${1:-}
[ -n "$cmd" ] || usage
shift
case "$cmd" in
  demo)
    check_machine; setup_venv; build_ops
    exec "$VENV/bin/python" -m sg2tf.cli.demo "$@"
    ;;
  test)
    check_machine; setup_venv; build_ops
    say "lint: ruff check and ruff format --check"
    "$VENV/bin/ruff" check --quiet . || die "ruff check found problems (run: $VENV/bin/ruff check --fix .)"
    "$VENV/bin/ruff" format --check --quiet . || die "files need formatting (run: $VENV/bin/ruff format .)"
    say "running the test suite"
    set +e
    # One pytest worker per core (pytest-xdist), whole files per worker so that a module's
    # fixtures are built once; SG2TF_TEST_WORKERS=0 runs everything in this process.
    local_workers=${SG2TF_TEST_WORKERS:-$(nproc 2>/dev/null || echo 1)}
    # A worker that dies (out of memory, a crash) ends the run: xdist's replacement worker has
    # been seen to wait forever after one.
    parallel=()
    [ "$local_workers" -gt 1 ] && parallel=(-n "$local_workers" --dist loadfile --max-worker-restart=0)
    # Each test has 15 minutes (pytest-timeout, pyproject.toml); the whole suite (13 minutes on
    # 2 cores) has 75, so a hang anywhere fails here, saying so, and not at CI's own limit.
    suite_limit=${SG2TF_TEST_TIME_LIMIT:-4500}
    timeout -k 30 "$suite_limit" "$VENV/bin/python" -m pytest -q ${parallel[@]+"${parallel[@]}"} "$@"
    rc=$?
    set -e
    [ $rc -eq 124 ] && die "the test suite ran past ${suite_limit} s and was stopped (a hang?)"
    [ $rc -eq 5 ] && die "pytest collected no tests"
    exit $rc
    ;;
  *) usage ;;
esac
