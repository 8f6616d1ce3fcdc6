"""The CPU demo end to end: wall time until bbox mAP >= 0.75.

Runs `frcnn-tui demo --json` (synthetic data generated on first use, plan, detached
launch, follow, summary) in a private FRCNN_TUI_HOME and reports its own summary
(wall_s, best_bbox_mAP, map_by_epoch) plus the time from the command's start to the
first validation whose bbox mAP reaches the target, read from the timestamps of
MMEngine's `Epoch(val) [k]` log lines in the run dir. Goal: the target is reached, in
under 10 minutes (what the demo-cpu preset promises).

There is no side-by-side baseline: the figure is an absolute time on this machine (see
the load average reported with it). `--quick` skips the run (it takes many minutes);
`--quick --epochs 1` runs a one-epoch demo and only reports its time.

  .venv/bin/python bench/bench_demo.py [--quick] [--json] [--repeats N] [--epochs N]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, BenchHome, fmt_summary, loadavg, run_figure, summary  # noqa: E402

TARGET_MAP = 0.75
GOAL_S = 600.0
VAL_LINE = re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) - mmengine - INFO - Epoch\(val\) \[(\d+)\]"
                      r"\[[^\]]*\].*?coco/bbox_mAP: (-?[0-9.]+)")


def val_times(run_dir: Path) -> list[tuple[float, int, float]]:
    """(unix time, epoch, bbox mAP) of each validation in MMEngine's text logs, in order."""
    rows = []
    for log in sorted(Path(run_dir).glob("*/*.log")):
        for line in log.read_text(errors="replace").splitlines():
            m = VAL_LINE.match(line)
            if m:
                stamp = time.mktime(time.strptime(m.group(1), "%Y/%m/%d %H:%M:%S"))
                rows.append((stamp, int(m.group(2)), float(m.group(3))))
    return rows


def time_to_target(run_dir: Path, started: float, target: float = TARGET_MAP) -> dict | None:
    for stamp, epoch, value in val_times(run_dir):
        if value >= target:
            return {"seconds": stamp - started, "epoch": epoch, "bbox_mAP": value}
    return None


def run_demo(env: dict[str, str], epochs: int | None, timeout: float) -> dict:
    cmd = [PY, "-m", "launcher.cli", "demo", "--json"] + (["--epochs", str(epochs)] if epochs else [])
    started = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    wall = time.time() - started
    try:
        summary_json = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(f"demo exited {proc.returncode} without a summary: {proc.stderr.strip()[-1500:]}") from None
    run_dir = Path(summary_json["run_dir"]) if summary_json.get("run_dir") else None
    hit = time_to_target(run_dir, started) if run_dir else None
    timeline = [{"epoch": e, "s": round(t - started), "bbox_mAP": m}
                for t, e, m in (val_times(run_dir) if run_dir else [])]
    return {"exit_code": proc.returncode, "wall_s": wall, "demo_wall_s": summary_json.get("wall_s"),
            "status": summary_json.get("status"), "best_bbox_mAP": summary_json.get("best_bbox_mAP"),
            "best_epoch": summary_json.get("best_epoch"),
            "map_by_epoch": [{"epoch": r.get("epoch"), "bbox_mAP": r.get("bbox_mAP")}
                             for r in summary_json.get("map_by_epoch") or []],
            "time_to_target_s": hit["seconds"] if hit else None, "target_epoch": hit["epoch"] if hit else None,
            "val_timeline": timeline}


def preset_epochs() -> int:
    sys.path.insert(0, str(ROOT))
    from launcher.planning.presets import load_presets

    return load_presets().get("demo-cpu").epochs


def measure(args: argparse.Namespace) -> dict:
    result: dict = {"figure": "demo", "goal": f"bbox mAP >= {TARGET_MAP} within {GOAL_S / 60:.0f} min",
                    "target_map": TARGET_MAP, "loadavg_start": loadavg()}
    if args.quick and not args.epochs:
        result.update(skipped="quick mode: the demo takes many minutes (use --quick --epochs 1 for a short run)",
                      time_to_target_s=None, wall_s=None, met=None, runs=[])
        return result
    repeats = args.repeats or 1
    result.update(repeats=repeats, epochs=args.epochs or f"the preset's {preset_epochs()}")
    runs = []
    with BenchHome("bench_demo_") as home:
        for i in range(repeats):
            run = run_demo(home.env, args.epochs, args.timeout)
            run["dataset_generated"] = i == 0  # later runs reuse the cached synthetic set
            runs.append(run)
            if not args.json:
                print(f"run {i + 1}/{repeats}: {run['status']}, best mAP {run['best_bbox_mAP']}, "
                      f"wall {run['wall_s']:.0f} s, to target {run['time_to_target_s']}", file=sys.stderr)
    result["runs"] = runs
    result["wall_s"] = summary(r["wall_s"] for r in runs)
    result["time_to_target_s"] = summary(r["time_to_target_s"] for r in runs)
    result["best_bbox_mAP"] = summary(r["best_bbox_mAP"] for r in runs)
    if args.epochs:
        result["met"] = None  # a shortened demo only reports its time
        result["note"] = f"shortened to {args.epochs} epoch(s): time only, the target is not expected"
    else:
        reached = all(r["time_to_target_s"] is not None for r in runs)
        result["reached_all"] = reached
        result["met"] = reached and result["time_to_target_s"]["median"] <= GOAL_S
    if any(r["exit_code"] != 0 for r in runs) and not args.epochs:
        result["error"] = "demo exited non-zero: " + ", ".join(str(r["status"]) for r in runs)
    result["loadavg_end"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the run (or, with --epochs, a short one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, help="demo runs (default 1; each takes minutes)")
    parser.add_argument("--epochs", type=int, help="shortened demo (time only)")
    parser.add_argument("--timeout", type=float, default=3600)
    return run_figure("demo", measure, parser.parse_args(argv), describe)


def describe(r: dict) -> list[str]:
    if r.get("skipped"):
        return [f"demo: skipped ({r['skipped']})"]
    return [f"demo ({r['repeats']} run(s), epochs {r['epochs']})",
            f"  wall: {fmt_summary(r['wall_s'], '.0f')} s; best bbox mAP {fmt_summary(r['best_bbox_mAP'])}",
            f"  time to bbox mAP >= {TARGET_MAP}: {fmt_summary(r['time_to_target_s'], '.0f')} s"
            + ("" if r["met"] is None else f"  goal {r['goal']}: {'met' if r['met'] else 'MISSED'}")]


if __name__ == "__main__":
    sys.exit(main())
