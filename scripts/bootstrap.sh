#!/usr/bin/env bash
# Set up .venv with frcnn-tui and the training stack. Idempotent: every step checks
# before it acts, and .venv/.frcnn-tui-ready is written last, so an interrupted or
# failed set-up never looks complete (make reruns it).
#
#   torch   torch==2.13.0 (CPU build) unless a torch is already in the venv (keep a CUDA one)
#   mmcv    2.1.0 compiled from the PyPI sdist with ops, cached as a wheel under
#           ~/.cache/frcnn-tui/wheels/<python>-<torch>-mmcv2.1.0/, built through ccache when present
#   rest    pip install -e '.[train,dev]' (mmengine 0.10.7, mmdet 3.3.0, pycocotools, OpenCV, pytest)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"
READY="$VENV/.frcnn-tui-ready"
CACHE="${FRCNN_TUI_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/frcnn-tui}"
LOGS="$CACHE/logs"
MMCV_VERSION=2.1.0
mkdir -p "$LOGS"
LOG="$LOGS/bootstrap-$(date +%Y%m%d-%H%M%S).log"

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: error: %s (full log: %s)\n' "$1" "$LOG" >&2; exit 1; }
# Run a step with its output in the log only; on failure, one line naming the log.
step() { local what="$1"; shift; say "$what"; "$@" >>"$LOG" 2>&1 || die "$what failed"; }
pip_() { "$PY" -m pip --disable-pip-version-check "$@"; }

[ -f "$READY" ] && [ "$READY" -nt "$ROOT/pyproject.toml" ] && [ "$READY" -nt "$0" ] && exit 0

command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH (Python >= 3.11 is required)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
  step "creating $VENV" "$PYTHON" -m venv "$VENV"
fi
rm -f "$READY"

# setuptools >= 82 dropped pkg_resources, which the mmcv build and mmengine's
# mmdet:: config lookups need.
step "installing build tools (setuptools<81, numpy, ninja)" pip_ install 'setuptools>=77,<81' wheel numpy ninja

if "$PY" -c 'import torch' >/dev/null 2>&1; then
  say "keeping torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
else
  step "installing torch==2.13.0 (CPU build)" pip_ install torch==2.13.0
fi

step "installing frcnn-tui and its dependencies" pip_ install --no-build-isolation -e "$ROOT[train,dev]"

mmcv_ok() { "$PY" - <<'PYEOF' >/dev/null 2>&1
import mmcv, mmcv.ops
assert mmcv.__version__ == "2.1.0"
PYEOF
}
if mmcv_ok; then
  say "mmcv $MMCV_VERSION with ops already installed"
else
  KEY="$("$PY" -c 'import sys, torch; print(f"py{sys.version_info.major}.{sys.version_info.minor}-torch{torch.__version__}-mmcv")')$MMCV_VERSION"
  WHEELS="$CACHE/wheels/$KEY"
  mkdir -p "$WHEELS"
  WHEEL="$(ls "$WHEELS"/mmcv-*.whl 2>/dev/null | head -n1)"
  if [ -z "$WHEEL" ]; then
    command -v g++ >/dev/null || command -v c++ >/dev/null \
      || die "no C++ compiler to build mmcv's ops: install g++ (Debian: apt-get install g++)"
    BUILD="$(mktemp -d)"
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    # ccache makes a rebuild (new venv, same sources) take seconds.
    # pip builds in a fresh temp dir each time: rewrite paths under it (base dir) and
    # leave the cwd out of the hash, or ccache would never hit.
    if [ -d /usr/lib/ccache ]; then
      export PATH="/usr/lib/ccache:$PATH" CCACHE_BASEDIR="${TMPDIR:-/tmp}" CCACHE_NOHASHDIR=true
      say "using ccache"
    fi
    say "building mmcv $MMCV_VERSION with ops from source: about 20 minutes on 2 cores (log: $LOG)"
    pip_ wheel --no-deps --no-build-isolation -v -w "$BUILD" "mmcv==$MMCV_VERSION" >>"$LOG" 2>&1 &
    pid=$!
    start=$SECONDS
    while kill -0 "$pid" 2>/dev/null; do
      sleep 30
      progress="$(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$LOG" | tail -n1 | tr -d ' ')"
      say "  still compiling mmcv ops: $(( (SECONDS - start) / 60 ))m$(( (SECONDS - start) % 60 ))s elapsed ${progress:+, step $progress}"
    done
    wait "$pid" || die "the mmcv $MMCV_VERSION build failed"
    mv "$BUILD"/mmcv-*.whl "$WHEELS"/ || die "the mmcv build produced no wheel"
    rm -rf "$BUILD"
    WHEEL="$(ls "$WHEELS"/mmcv-*.whl | head -n1)"
    say "cached $WHEEL"
  else
    say "using the cached mmcv wheel $WHEEL"
  fi
  step "installing mmcv from $WHEEL" pip_ install --no-deps --force-reinstall "$WHEEL"
  mmcv_ok || die "mmcv $MMCV_VERSION installed but its ops do not import"
fi

"$PY" -c 'import mmdet, mmengine, pycocotools, cv2' >>"$LOG" 2>&1 || die "the training stack does not import"
touch "$READY"
say "ready: $VENV"
