#!/usr/bin/env bash
# The GPU path of frcnn-tui, proven on a real GPU in one run of under 10 minutes (issue 17).
#
# For a machine with an NVIDIA GPU, Python 3.12 with a CUDA torch, nvcc, 16 or so cores and no
# network. What it lacks travels in the wheel folder (scripts/gpu_check_prepare.sh fills it here).
#   1. checks the interpreter, torch, nvcc and the wheel folder; installs the wheels into a temp dir
#   2. with a GPU, starts compiling mmcv 2.1.0's ops for it only (launcher/stack/mmcv_build.py decides:
#      its architecture, its nvcc), and meanwhile
#   3. generates a COCO-format set (COCO's category names and image sizes; bench/coco_like_data.py)
#   4. resolves r50-fpn-1x on it through `frcnn-tui plan --gpus 1` (init_cfg=None: no weights offline)
#   5. stops here without an NVIDIA GPU (or with --dry-run), in one line saying so; else waits for mmcv
#   6. runs `frcnn-tui doctor` and `frcnn-tui gpus --json` against the real device
#   7. times `frcnn-tui launch --preset r50-fpn-1x --gpus 1` against plain torchrun of mmdet's
#      tools/train.py on the same config, A B A B (bench/bench_launch_overhead.py), and captures the
#      Monitor's GPU tab while the first job trains (tmux if present; `frcnn-tui watch --once` always)
# Everything lands in one folder (at most 8 files: the device tool's limit): report.md, result.json,
# gpus.json, doctor.txt, monitor_gpus.txt, watch_once.txt, logs.tar.gz.
#
#   scripts/gpu_check.sh [--dry-run] [--out DIR (default $OUT, else ./gpu_check_out)] [--wheels DIR (.whl)]
#   PYTHON=python3 (the training interpreter)   GPU_CHECK_BUDGET=560 (seconds for the whole run)
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUDGET="${GPU_CHECK_BUDGET:-560}"
TRAIN_IMAGES="${GPU_CHECK_TRAIN_IMAGES:-400}"  # 200 iterations per run at 2 images per GPU
OPTIONS=(model.backbone.init_cfg=None)

# --capture-monitor DIR JOB: the bench's hook, run while the first launched job trains.
if [ "${1:-}" = --capture-monitor ]; then
  out="$2" job="$3"
  for _ in $(seq 60); do  # until the job has logged a training line (MMEngine's scalars.json)
    compgen -G "$FRCNN_TUI_HOME/../launched-0/*/vis_data/scalars.json" >/dev/null && break
    sleep 1
  done
  sleep 5
  "$PYTHON" -m launcher.cli watch "$job" --once >"$out/watch_once.txt" 2>&1
  if command -v tmux >/dev/null; then
    tmux -L frcnn-check new-session -d -x 132 -y 40 -s check "cd '$ROOT' && '$PYTHON' -m tui"
    sleep 8; tmux -L frcnn-check send-keys -t check j
    sleep 3; tmux -L frcnn-check send-keys -t check m
    sleep 4; tmux -L frcnn-check send-keys -t check 5
    sleep 6; tmux -L frcnn-check capture-pane -p -t check >"$out/monitor_gpus.txt"
    tmux -L frcnn-check kill-server
  else
    echo "no tmux on this machine: see watch_once.txt (frcnn-tui watch --once)" >"$out/monitor_gpus.txt"
  fi
  exit 0
fi

DRY=""
OUTDIR="${OUT:-$PWD/gpu_check_out}"
WHEELS="$ROOT/.whl"
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --out) OUTDIR="$2"; shift ;;
    --wheels) WHEELS="$2"; shift ;;
    *) echo "usage: $0 [--dry-run] [--out DIR] [--wheels DIR]" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)" WHEELS="$(realpath -m "$WHEELS")"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/frcnn-gpu-check.XXXXXX")"
LOGS="$WORK/logs" SITE="$WORK/site" DATA="$WORK/coco"
mkdir -p "$LOGS"
export FRCNN_TUI_HOME="$WORK/home" PYTHONUNBUFFERED=1 TERM="${TERM:-xterm-256color}"
# The interpreter's own bin (a venv's ninja, for a parallel mmcv build), and the usual CUDA folder.
PATH="$(dirname "$(command -v "$PYTHON" || echo /usr/bin/python3)"):$PATH"
command -v nvcc >/dev/null || [ ! -x /usr/local/cuda/bin/nvcc ] || PATH="/usr/local/cuda/bin:$PATH"
export PATH
REPORT="$OUTDIR/report.md"
START=$SECONDS
: >"$REPORT"

say() { printf '[%3ds] %s\n' $((SECONDS - START)) "$*" | tee -a "$REPORT"; }
finish() {
  tar czf "$OUTDIR/logs.tar.gz" -C "$WORK" logs 2>/dev/null
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap finish EXIT
fail() { say "FAILED: $*"; exit 1; }
frcnn() { "$PYTHON" -m launcher.cli "$@"; }
left() { echo $((BUDGET - (SECONDS - START))); }

say "gpu_check on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
# -- 1. the machine and the wheel folder -------------------------------------------------------------------------
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || fail "$PYTHON is missing or older than 3.11"
PYVER="$("$PYTHON" -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')"
[ -f "$WHEELS/mmcv-2.1.0.tar.gz" ] || fail "no $WHEELS/mmcv-2.1.0.tar.gz: run scripts/gpu_check_prepare.sh (with network) first"
missing=()
while read -r req; do
  name="$(echo "${req%%==*}" | tr 'A-Z-' 'a-z_')"
  compgen -G "$WHEELS/${name}-*.whl" >/dev/null || missing+=("$req")
done < <(grep -v -e '^#' -e '^$' "$ROOT/scripts/gpu_check_wheels.txt")
[ ${#missing[@]} -eq 0 ] || fail "missing from $WHEELS: ${missing[*]} (scripts/gpu_check_prepare.sh)"
TORCH="$("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)' 2>>"$LOGS/env.txt")" \
  || fail "torch does not import in $PYTHON"
say "python $PYVER ($(command -v "$PYTHON")), torch $TORCH, $(nproc) cores, nvcc: $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo none)"
{ nvidia-smi 2>&1 || echo "no nvidia-smi"; ninja --version 2>&1; } >>"$LOGS/env.txt"

# -- 2. the wheels installed ----------------------------------------------------------------------------
if [ "$PYVER" = 3.12 ]; then
  "$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile --target "$SITE" \
    "$WHEELS"/*.whl >>"$LOGS/install.txt" 2>&1 || fail "installing the wheels failed (logs/install.txt)"
  export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
  say "installed $(ls "$WHEELS"/*.whl | wc -l) wheels into $SITE"
else
  # The wheels are cp312 builds; elsewhere (a dry run on a dev box) this interpreter's own packages serve.
  export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
  say "wheels checked by name only (they are for Python 3.12, this is $PYVER): using $PYTHON's own packages"
fi

# -- 3. a GPU? Then mmcv's ops for it, compiled while the data and the config are prepared -------
frcnn gpus --json >"$OUTDIR/gpus.json" 2>>"$LOGS/gpus.txt"
GPUS="$("$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(len(d.get("gpus") or []), d.get("error") or "")' \
  "$OUTDIR/gpus.json" 2>/dev/null || echo "0 frcnn-tui gpus failed")"
BUILD_PID="" BUILD_T0=$SECONDS
if [ "${GPUS%% *}" != 0 ] && [ -z "$DRY" ]; then
  PLAN="$("$PYTHON" -m launcher.stack.mmcv_build plan --shell --offline --source "$WHEELS/mmcv-2.1.0.tar.gz" \
    2>>"$LOGS/mmcv_plan.txt")" || fail "could not plan the mmcv build (logs/mmcv_plan.txt)"
  eval "$PLAN"
  "$PYTHON" -m launcher.stack.mmcv_build plan --offline --source "$WHEELS/mmcv-2.1.0.tar.gz" >>"$REPORT" 2>&1
  [ -z "$PLAN_STOP" ] || fail "$PLAN_STOP"
  [ -n "$PLAN_CUDA_OPS" ] || fail "no CUDA ops planned: ${PLAN_NOTES:-torch has no CUDA}"
  mkdir -p "$WORK/build"
  (
    eval "export $PLAN_BUILD_ENV"
    export PATH="$PLAN_CUDA_HOME/bin:$PATH"
    eval "$PLAN_WHEEL -w \"$WORK/build\""
  ) >"$LOGS/mmcv_build.log" 2>&1 &
  BUILD_PID=$!
  say "compiling mmcv 2.1.0's ops for CUDA $PLAN_TORCH_CUDA in the background (logs/mmcv_build.log)"
fi

# -- 4. the data and the config ------------------------------------------------------------
"$PYTHON" "$ROOT/bench/coco_like_data.py" --out "$DATA" --train "$TRAIN_IMAGES" --val 50 >"$LOGS/data.json" \
  2>>"$LOGS/data.txt" || fail "generating the COCO-format set failed (logs/data.txt)"
say "COCO-format set: $(cat "$LOGS/data.json")"
frcnn plan --preset r50-fpn-1x --gpus 1 --seed 0 --data-root "$DATA" --cfg-options "${OPTIONS[@]}" \
  train_cfg.max_epochs=1 --json >"$LOGS/plan.json" 2>"$LOGS/plan.txt"
"$PYTHON" - "$LOGS/plan.json" <<'EOF' | tee -a "$REPORT" || fail "the r50-fpn-1x config does not resolve on the set"
import json, sys
plan = json.load(open(sys.argv[1]))
checks = {c["id"]: c for c in plan["checklist"]}
bad = [f"{k}: {checks[k]['detail']}" for k in ("config", "data", "weights") if k in checks and checks[k]["status"] == "fail"]
print(f"      plan r50-fpn-1x --gpus 1: lr {plan['lr']} ({plan['formula']}); "
      + "; ".join(f"{c['id']} {c['status']}" for c in plan["checklist"]))
sys.exit(1 if bad or "data" not in checks else 0)
EOF

if [ "${GPUS%% *}" = 0 ]; then
  say "no NVIDIA GPU here (${GPUS#* }): stopping before the mmcv CUDA build; checked the wheels, the data and the config"
  [ -n "$DRY" ] && exit 0 || exit 1
fi
if [ -n "$DRY" ]; then say "--dry-run: stopping before the mmcv CUDA build (${GPUS%% *} GPU(s) here)"; exit 0; fi

# -- 5. the build's end -------------------------------------------------------------------------
while kill -0 "$BUILD_PID" 2>/dev/null; do
  sleep 15
  say "  compiling mmcv ops: $((SECONDS - BUILD_T0)) s, step $(grep -oE '^ *\[[0-9]+/[0-9]+\]' "$LOGS/mmcv_build.log" | tail -n1 | tr -d ' ')"
done
wait "$BUILD_PID" || fail "the mmcv build failed after $((SECONDS - BUILD_T0)) s (logs/mmcv_build.log): $(grep -m1 -E 'error' "$LOGS/mmcv_build.log")"
"$PYTHON" -m pip install -q --disable-pip-version-check --no-index --no-deps --target "$SITE" "$WORK"/build/mmcv-*.whl \
  >>"$LOGS/install.txt" 2>&1 || fail "installing the mmcv wheel failed"
say "mmcv built in $((SECONDS - BUILD_T0)) s: $(basename "$WORK"/build/mmcv-*.whl), $(du -h "$WORK"/build/mmcv-*.whl | cut -f1)"

# -- 6. doctor and gpus on the real device --------------------------------------------------------
frcnn doctor >"$OUTDIR/doctor.txt" 2>&1; doctor_rc=$?
frcnn gpus --json >"$OUTDIR/gpus.json" 2>>"$LOGS/gpus.txt"
say "frcnn-tui doctor: exit $doctor_rc; $(grep -c -i fail "$OUTDIR/doctor.txt") FAIL line(s)"
frcnn plan --preset r50-fpn-1x --gpus 1 --seed 0 --data-root "$DATA" --cfg-options "${OPTIONS[@]}" \
  train_cfg.max_epochs=1 >"$LOGS/plan_gpu.txt" 2>&1
grep -E '^ *(cuda|versions|gpus) ' "$LOGS/plan_gpu.txt" | sed 's/^/      /' | tee -a "$REPORT"

# -- 7. frcnn-tui launch against plain torchrun, A B A B --------------------------------------
remaining=$(left)
repeats=2
[ "$remaining" -ge 260 ] || repeats=1
[ "$remaining" -ge 120 ] || fail "only $remaining s of the budget left: no time to train"
say "timing: $repeats pair(s), r50-fpn-1x, $((TRAIN_IMAGES / 2)) iterations per run, $remaining s left"
"$PYTHON" "$ROOT/bench/bench_launch_overhead.py" --device gpu --gpus 1 --preset r50-fpn-1x --data-root "$DATA" \
  --imgs-per-gpu 2 --repeats "$repeats" --skip 20 --log-interval 1 --timeout $(( (remaining - 20) / (2 * repeats) )) \
  --cfg-options "${OPTIONS[@]}" --first-job-hook "bash $ROOT/scripts/gpu_check.sh --capture-monitor $OUTDIR" \
  --json >"$OUTDIR/result.json" 2>"$LOGS/bench.txt"
bench_rc=$?
"$PYTHON" - "$OUTDIR/result.json" "$OUTDIR/gpus.json" "$TORCH" <<'EOF' | tee -a "$REPORT"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
if r.get("error"):
    print(f"      bench failed: {r['error']}"); sys.exit()
gpus = json.load(open(sys.argv[2])).get("gpus") or [{}]
a, b, q = r["launch_imgs_per_s"], r["manual_imgs_per_s"], r["ratio"]
print(f"      images/s through frcnn-tui launch: {a['median']:.2f} (min {a['min']:.2f}, max {a['max']:.2f})")
print(f"      images/s through plain torchrun of tools/train.py: {b['median']:.2f} (min {b['min']:.2f}, max {b['max']:.2f})")
print(f"      ratio (median of pairs): {q['median']:.3f} (min {q['min']:.3f}, max {q['max']:.3f}), {r['repeats']} pair(s)")
import time
print(f"\n| {time.strftime('%Y-%m-%d')} | {gpus[0].get('name')} | {sys.argv[3]} | r50-fpn-1x, 1 GPU x 2 images, "
      f"{r['measured_iters_per_run']} iterations measured | {a['median']:.2f} | {b['median']:.2f} | {q['median']:.3f} |")
EOF
say "done in $((SECONDS - START)) s (bench exit $bench_rc)"
exit $bench_rc
