"""`frcnn-tui demo`: the whole product, headless, on a machine with no GPU and no COCO.

Generate (or reuse) the synthetic shapes dataset, plan demo-cpu (lr + checklist),
launch it detached with gloo workers, follow it as the monitor does (the run
follower), and end with a summary. The job is a normal registry job: Ctrl-C
leaves it running, `frcnn-tui watch` and the TUI find it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from launcher.jobs import local as jobs
from launcher import run_files
from launcher.jobs import job_status, registry, status_words
from launcher.cli import render
from launcher.cli.common import print_json
from launcher.monitor.run_follower import RunFollower
from launcher.monitor.workdir import DEFAULT_POLL_BYTES
from launcher.planning.plan import PlanRequest

DEMO_PRESET = "demo-cpu"


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def follow(record: registry.JobRecord, say: Callable[[str], None], poll_s: float = 2.0) -> dict[str, Any]:
    """Print progress lines until the job ends; returns the final snapshot."""
    follower = RunFollower.for_job(record, poll_bytes=DEFAULT_POLL_BYTES)
    seen_iter, seen_epochs = None, 0
    while True:
        running = job_status.status(record) == status_words.RUNNING
        follower.poll()
        snap = follower.snapshot(job_status.status(record))
        prog, latest = snap["progress"], snap["latest"]
        if prog.get("global_iter") is not None and prog["global_iter"] != seen_iter:
            seen_iter = prog["global_iter"]
            eta = snap.get("eta_s")
            say(f"  epoch {prog.get('epoch')}/{prog.get('max_epochs') or '?'} "
                f"iter {prog.get('iter_in_epoch')}/{prog.get('iters_per_epoch') or '?'}  "
                f"loss {_fmt(latest.get('loss'))}  lr {_fmt(latest.get('lr'), '.4g')}"
                + (f"  eta {int(eta // 60)}m{int(eta % 60):02d}s" if eta is not None else ""))
        for row in snap["map_by_epoch"][seen_epochs:]:
            say(f"  epoch {row['epoch']}: bbox mAP {_fmt(row.get('bbox_mAP'), '.3f')} "
                f"(mAP50 {_fmt(row.get('bbox_mAP_50'), '.3f')})")
        seen_epochs = len(snap["map_by_epoch"])
        for alert in snap["alerts"]:
            say(f"  ALERT {alert.get('kind')}: {alert.get('message')}")
        if not running:
            return snap
        time.sleep(poll_s)


def run_demo(*, as_json: bool = False, nproc: int | None = None, epochs: int | None = None,
             python: str | None = None) -> int:
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if as_json else (lambda msg: print(msg, flush=True))
    started = time.time()
    say("frcnn-tui demo: mmdet Faster R-CNN on CPU, synthetic COCO-format shapes, gloo workers")
    # A shortened demo (--epochs) fails the schedule check on purpose; it is the user's explicit choice.
    req = PlanRequest(preset=DEMO_PRESET, cpu=True, nproc=nproc, seed=0, python=python, name="demo",
                      cfg_options=[f"train_cfg.max_epochs={epochs}"] if epochs else [])
    record, plan = jobs.launch(req, force=epochs is not None)
    if not as_json:
        render.print_plan(plan)
    say(f"launched job {record.id}, run dir {record.run_dir} (Ctrl-C detaches; the job keeps running)")
    try:
        snap = follow(record, say)
    except KeyboardInterrupt:
        say(f"detached; job {record.id} keeps running: frcnn-tui watch {record.id}")
        return 130
    status = job_status.status(record)
    maps = [row.get("bbox_mAP") for row in snap["map_by_epoch"] if row.get("bbox_mAP") is not None]
    best = snap.get("best") or {}
    summary = {
        "job": record.id, "status": status, "exit_code": run_files.read_exit_status(record.run_path),
        "wall_s": round(time.time() - started, 1), "final_bbox_mAP": maps[-1] if maps else None,
        "best_bbox_mAP": best.get("bbox_mAP"), "best_epoch": best.get("epoch"),
        "best_checkpoint": best.get("checkpoint"), "reference_ap": record.reference_ap,
        "map_by_epoch": snap["map_by_epoch"], "run_dir": record.run_dir, "lr": plan.proposal.lr,
        "formula": plan.proposal.formula, "first_error_line": (snap.get("errors") or {}).get("first_error_line"),
    }
    if as_json:
        print_json(summary)
    else:
        say(f"\n{status}: final bbox mAP {_fmt(summary['final_bbox_mAP'], '.3f')}, best "
            f"{_fmt(summary['best_bbox_mAP'], '.3f')} at epoch {summary['best_epoch']} "
            f"(reference {_fmt(None if record.reference_ap is None else record.reference_ap / 100, '.3f')}), "
            f"{summary['wall_s']:.0f} s, run dir {record.run_dir}")
        if status != status_words.SUCCEEDED and summary["first_error_line"]:
            say(f"first error: {summary['first_error_line']}  (frcnn-tui logs {record.id} --stderr)")
    return 0 if status == status_words.SUCCEEDED else 1
