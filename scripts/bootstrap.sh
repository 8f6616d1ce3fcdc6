#!/usr/bin/env bash
# Set up .venv with frcnn-tui and the training stack. Idempotent: every step checks
# before it acts, and .venv/.frcnn-tui-ready is written last, so an interrupted or
# failed set-up never looks complete (make reruns it).
#
#   torch   torch==2.13.0 unless a torch is already in the venv (a CUDA one is kept); with no GPU
#           that is the index's build (CPU here), on a GPU box the registry's CUDA 13.0 build
#   mmcv    2.1.0 compiled from the PyPI sdist with ops, cached as a wheel under
#           ~/.cache/frcnn-tui/wheels/<key>/, built through ccache when present. With NVIDIA GPUs and a
#           CUDA torch: CUDA ops for those GPUs' architectures only, compiled by the system's nvcc when
#           it matches torch's CUDA, else by the registry's (installed into the venv); the key then
#           names the CUDA version and the architectures
#   rest    pip install -c constraints.txt -e '.[train,dev]' (mmengine 0.10.7, mmdet 3.3.0, pycocotools, OpenCV,
#           pytest, textual...: the versions the suite last passed with)
#
# The decisions come from launcher/stack/mmcv_build.py; `scripts/bootstrap.sh --plan-only` (or
# --plan-json) prints them and changes nothing.
#
# --background (make run): the light part (the venv, frcnn-tui and the TUI's own dependencies, about a
# minute) here, then the long part (torch, the training extras, mmcv) in a detached session of its own,
# so the TUI can open at once and quitting it (or closing the terminal) does not stop the build.
# Without it (make test, make setup) everything runs here and the script returns when the stack is ready.
# One set-up at a time: .venv/.frcnn-tui-setup.lock is held (flock) by whichever runs, and holds its pid;
# a second one waits for it (make test) or leaves it alone (make run). .venv/.frcnn-tui-setup.json says
# what it is doing for the TUI (launcher/stack/setup_status.py); --report prints a failure in one line.
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PYTHON="${PYTHON:-python3}"
READY="$VENV/.frcnn-tui-ready"
LIGHT="$VENV/.frcnn-tui-light"  # frcnn-tui and the TUI's dependencies are installed
STATUS="$VENV/.frcnn-tui-setup.json"
LOCK="$VENV/.frcnn-tui-setup.lock"
CACHE="${FRCNN_TUI_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/frcnn-tui}"
LOGS="$CACHE/logs"
MMCV_VERSION=2.1.0
mkdir -p "$LOGS"
# The detached long part goes on in the log its light part started.
LOG="${FRCNN_TUI_BOOTSTRAP_LOG:-$LOGS/bootstrap-$(date +%Y%m%d-%H%M%S).log}"
STARTED="${FRCNN_TUI_BOOTSTRAP_STARTED:-$(date +%s)}"
PHASE=light STEP=""

say() { printf 'bootstrap: %s\n' "$*"; }
json_() { local s="${1//\\/\\\\}"; printf '%s' "${s//\"/\\\"}"; }
# status STATE [ERROR]: the state file the TUI reads (written whole, then renamed: never half a file).
status() {
  [ -d "$VENV" ] || return 0
  printf '{"state": "%s", "phase": "%s", "step": "%s", "error": "%s", "log": "%s", "pid": %s, "started": %s, "step_started": %s}\n' \
    "$1" "$PHASE" "$(json_ "$STEP")" "$(json_ "${2:-}")" "$(json_ "$LOG")" "$$" "$STARTED" "$(date +%s)" \
    >"$STATUS.$$" 2>/dev/null && mv -f "$STATUS.$$" "$STATUS"
}
die() { status failed "$1"; printf 'bootstrap: error: %s (full log: %s)\n' "$1" "$LOG" >&2; exit 1; }
# Run a step with its output in the log only; on failure, one line naming the log.
step() { local what="$1"; shift; say "$what"; STEP="$what"; status running; "$@" >>"$LOG" 2>&1 || die "$what failed"; }
pip_() { "$PY" -m pip --disable-pip-version-check "$@"; }
# Every package but torch's own and mmcv at the version the suite last passed with (constraints.txt;
# scripts/constraints.py says what is left out and why): an upstream release cannot break a fresh set-up.
pin_() { pip_ install -c "$CONSTRAINTS" "$@"; }
# The build decisions, run by the venv's interpreter from the source tree (frcnn-tui may not be installed yet).
mmcv_build() { PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$1" -m launcher.stack.mmcv_build "${@:2}"; }
# Sets PLAN_* (see shell_lines in mmcv_build.py); stops here, before any long step, when it cannot work.
plan() {
  local out
  out="$(mmcv_build "$PY" plan --shell 2>>"$LOG")" || die "could not work out the mmcv build"
  eval "$out"
  [ -z "$PLAN_STOP" ] || die "$PLAN_STOP"
  [ -z "$PLAN_NOTES" ] || say "note: $PLAN_NOTES"
}

case "${1:-}" in
  --plan-only|--plan-json)
    py="$PY"; "$py" -c 'import sys' >/dev/null 2>&1 || py="$PYTHON"
    mmcv_build "$py" plan $([ "$1" = --plan-json ] && echo --json)
    exit $? ;;
  --report)  # make run, after the TUI: a background set-up still running, or failed, in one line
    [ -x "$PY" ] || exit 0
    PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m launcher.stack.setup_status "$PY"
    exit 0 ;;
  ""|--background|--detached-rest) ;;
  *) printf 'usage: %s [--background | --plan-only | --plan-json | --report]\n' "$0" >&2; exit 2 ;;
esac
MODE="${1:-}"

CONSTRAINTS="$ROOT/constraints.txt"
# A marker counts when it is newer than everything that decides what gets installed.
current() { [ -f "$1" ] && [ "$1" -nt "$ROOT/pyproject.toml" ] && [ "$1" -nt "$CONSTRAINTS" ] && [ "$1" -nt "$0" ]; }
current "$READY" && exit 0

mkdir -p "$VENV"
if [ "$MODE" != --detached-rest ]; then  # the detached part holds the lock its starter took (fd 9)
  exec 9>>"$LOCK"
  # -w: the TUI's check of the lock holds it for an instant.
  if ! flock -w 2 9; then
    if [ "$MODE" = --background ]; then
      # The TUI needs only the light part: it opens as soon as the running set-up has that in.
      current "$LIGHT" || say "waiting for the set-up already running (pid $(cat "$LOCK" 2>/dev/null)) to install the TUI's dependencies"
      until flock -n 9; do
        if current "$LIGHT"; then
          say "the training stack is being set up in the background already (pid $(cat "$LOCK" 2>/dev/null); log: $(
            sed -n 's/.*"log": "\([^"]*\)".*/\1/p' "$STATUS" 2>/dev/null))"
          exit 0
        fi
        sleep 1
      done
    else
      say "waiting for the set-up already running (pid $(cat "$LOCK" 2>/dev/null)) to finish"
      flock 9
    fi
    current "$READY" && exit 0
  fi
  printf '%s\n' "$$" >"$LOCK"
fi
status running

command -v "$PYTHON" >/dev/null || die "no $PYTHON on PATH (Python >= 3.11 is required)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
if ! "$PY" -c 'import sys' >/dev/null 2>&1; then
  step "creating $VENV" "$PYTHON" -m venv "$VENV"
fi
rm -f "$READY"

# setuptools >= 82 dropped pkg_resources, which the mmcv build and mmengine's
# mmdet:: config lookups need.
# nvidia-ml-py: the plan reads the driver and the GPUs through NVML before torch is chosen.
if ! current "$LIGHT"; then
step "installing build tools (setuptools<81, numpy, ninja)" pin_ 'setuptools>=77,<81' wheel numpy ninja \
  nvidia-ml-py
fi

plan
if ! current "$LIGHT"; then
  # What the TUI needs (textual, rich, psutil...): it can open from here on.
  step "installing frcnn-tui and the TUI's dependencies (pinned: constraints.txt)" pin_ --no-build-isolation -e "$ROOT"
  touch "$LIGHT"
fi
if [ "$MODE" = --background ]; then
  # A session of its own: quitting the TUI, ctrl+c or a closed terminal does not reach it. It inherits
  # the lock (fd 9) and the log; its output goes to the log.
  FRCNN_TUI_BOOTSTRAP_LOG="$LOG" FRCNN_TUI_BOOTSTRAP_STARTED="$STARTED" \
    setsid bash "$0" --detached-rest </dev/null >>"$LOG" 2>&1 &
  printf '%s\n' "$!" >"$LOCK"
  say "torch and mmcv install in the background (about 20 minutes the first time; the TUI shows the progress; log: $LOG)"
  exit 0
fi
[ "$MODE" = --detached-rest ] && printf '%s\n' "$$" >"$LOCK"

if [ -n "${FRCNN_TUI_BOOTSTRAP_STANDIN:-}" ]; then
  # For tests only: the long part (torch, the training extras, the mmcv compile) replaced by this
  # program, which writes to the log as the compile does, so a test can watch the TUI while it runs.
  PHASE=mmcv
  step "building mmcv $MMCV_VERSION (stand-in: $FRCNN_TUI_BOOTSTRAP_STANDIN)" "$FRCNN_TUI_BOOTSTRAP_STANDIN"
  PHASE=ready STEP=""
  touch "$READY"
  status ready
  say "ready: $VENV"
  exit 0
fi
if [ -z "$PLAN_TORCH_INSTALL" ]; then
  say "keeping torch $("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"
else
  build="CPU build"
  [ -z "$PLAN_TORCH_CUDA" ] || build="the CUDA $PLAN_TORCH_CUDA build"
  PHASE=torch
  step "installing torch==2.13.0 ($build)" eval "$PLAN_TORCH_INSTALL"
fi
PHASE=train

step "installing the training stack (mmengine, mmdet, OpenCV...) and the test tools (pinned: constraints.txt)" pin_ --no-build-isolation -e "$ROOT[train,dev]"

plan  # again, with the torch that is now there
# With CUDA ops planned, an mmcv with CPU ops only (or another CUDA's) does not count.
mmcv_ok() { PLAN_TORCH_CUDA="$PLAN_TORCH_CUDA" PLAN_CUDA_OPS="$PLAN_CUDA_OPS" "$PY" - <<'PYEOF' >/dev/null 2>&1
import os
import mmcv, mmcv.ops
assert mmcv.__version__ == "2.1.0"
if os.environ["PLAN_CUDA_OPS"]:
    assert mmcv.ops.get_compiling_cuda_version() == os.environ["PLAN_TORCH_CUDA"]
PYEOF
}
if mmcv_ok; then
  say "mmcv $MMCV_VERSION with ops already installed"
else
  KEY="$PLAN_CACHE_KEY"
  WHEELS="$CACHE/wheels/$KEY"
  mkdir -p "$WHEELS"
  WHEEL="$(ls "$WHEELS"/mmcv-*.whl 2>/dev/null | head -n1)"
  if [ -z "$WHEEL" ]; then
    command -v g++ >/dev/null || command -v c++ >/dev/null \
      || die "no C++ compiler to build mmcv's ops: install g++ (Debian: apt-get install g++)"
    if [ "$PLAN_COMPILER" = registry ]; then
      step "installing the CUDA $PLAN_TORCH_CUDA compiler from the registry into the venv" \
        mmcv_build "$PY" install-compiler --cuda "$PLAN_TORCH_CUDA"
    fi
    BUILD="$(mktemp -d)"
    # MMCV_WITH_OPS, MAX_JOBS (all cores), and for CUDA ops FORCE_CUDA, CUDA_HOME, TORCH_CUDA_ARCH_LIST.
    eval "export $PLAN_BUILD_ENV"
    [ -z "$PLAN_CUDA_HOME" ] || export PATH="$PLAN_CUDA_HOME/bin:$PATH"
    # ccache makes a rebuild (new venv, same sources) take seconds.
    # pip builds in a fresh temp dir each time: rewrite paths under it (base dir) and
    # leave the cwd out of the hash, or ccache would never hit.
    if [ -d /usr/lib/ccache ]; then
      export PATH="/usr/lib/ccache:$PATH" CCACHE_BASEDIR="${TMPDIR:-/tmp}" CCACHE_NOHASHDIR=true
      say "using ccache"
    fi
    PHASE=mmcv STEP="building mmcv $MMCV_VERSION from source"
    status running
    say "building mmcv $MMCV_VERSION with ${PLAN_CUDA_OPS:+CUDA (${TORCH_CUDA_ARCH_LIST:-default archs}, nvcc ${PLAN_CUDA_HOME}) and }CPU ops from source: about 20 minutes on 2 cores (log: $LOG)"
    # pip wheel --no-cache-dir ...: without it pip would reuse an earlier wheel of the same version (CPU ops only).
    eval "$PLAN_WHEEL -w \"\$BUILD\"" >>"$LOG" 2>&1 &
    pid=$!
    start=$SECONDS reported=0
    # Poll each second (a cached or failing build ends at once), report every 30.
    while kill -0 "$pid" 2>/dev/null; do
      sleep 1
      (( SECONDS >= start + reported + 30 )) || continue
      reported=$(( SECONDS - start ))
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
  PHASE=mmcv
  step "installing mmcv from $WHEEL" pip_ install --no-deps --force-reinstall "$WHEEL"
  mmcv_ok || die "mmcv $MMCV_VERSION installed but its ops do not import"
fi

"$PY" -c 'import mmdet, mmengine, pycocotools, cv2' >>"$LOG" 2>&1 || die "the training stack does not import"
touch "$READY"
PHASE=ready STEP=""
status ready
say "ready: $VENV"
