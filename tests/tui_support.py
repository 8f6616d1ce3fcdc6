"""Helpers for the TUI tests (no tests here): recorded MMEngine runs, registry entries, screen text.

A recorded run is written in MMEngine's layout (see shared/reference/mmdet-facts.md):
<run>/<ts>/vis_data/scalars.json (JSON lines: train lines, then one validation line per
epoch), <run>/<ts>/<ts>.log (text log with Epoch(train) lines and the ETA), stdout.log,
stderr.log and, for a finished job, the exit_status file launch.sh writes.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from launcher import paths
from launcher.jobs import identity, registry
from launcher.jobs.registry import JobRecord

TS = "20261128_231000"
T0 = 1_795_000_000.0  # a fixed "started at" (2026-11-18), so relative times are stable
NOW = T0 + 3600.0
MAPS = (0.212, 0.268, 0.301, 0.322, 0.335, 0.347, 0.352, 0.358, 0.369, 0.371, 0.373, 0.374)


def loss_at(step: int) -> float:
    return round(0.45 + 1.6 * math.exp(-step / 150), 4)


def write_run(run_dir: Path, *, epochs: int = 2, iters_per_epoch: int = 100, interval: int = 10,
              max_epochs: int = 12, nan_at: int | None = None, traceback: bool = False) -> Path:
    vis = run_dir / TS / "vis_data"
    vis.mkdir(parents=True, exist_ok=True)
    (run_dir / "faster-rcnn_r50_fpn_1x_coco.py").write_text(
        f"train_cfg = dict(type='EpochBasedTrainLoop', max_epochs={max_epochs}, val_interval=1)\n")
    scalars, text = [], []
    for epoch in range(1, epochs + 1):
        for it in range(interval, iters_per_epoch + 1, interval):
            step = (epoch - 1) * iters_per_epoch + it
            loss = float("nan") if nan_at is not None and step >= nan_at else loss_at(step)
            lr = round(0.01 * min(1.0, 0.001 + step / 500), 6)
            parts = {"loss_rpn_cls": 0.3, "loss_rpn_bbox": 0.07, "loss_cls": 0.42, "loss_bbox": 0.21}
            rec = {"lr": lr, "data_time": 0.0104, "loss": loss,
                   **{k: round(loss * f, 4) for k, f in parts.items()},
                   "acc": 90.0, "time": 0.498, "epoch": epoch, "iter": step, "memory": 3012, "step": step}
            scalars.append(json.dumps(rec))
            left = (max_epochs * iters_per_epoch - step) // 2
            text.append(f"2026/11/28 23:{10 + epoch:02d}:{it % 60:02d} - mmengine - INFO - Epoch(train) "
                        f"[{epoch}][{it:>3}/{iters_per_epoch}]  lr: {lr:.4e}  eta: {left // 3600}:"
                        f"{left % 3600 // 60:02d}:{left % 60:02d}  time: 0.4980  data_time: 0.0104  "
                        f"memory: 3012  loss: {loss:.4f}")
        m = MAPS[epoch - 1]
        scalars.append(json.dumps({"coco/bbox_mAP": m, "coco/bbox_mAP_50": round(m + 0.2, 3),
                                   "coco/bbox_mAP_75": round(m + 0.02, 3), "coco/bbox_mAP_s": round(m - 0.15, 3),
                                   "coco/bbox_mAP_m": round(m + 0.03, 3), "coco/bbox_mAP_l": round(m + 0.1, 3),
                                   "data_time": 0.0051, "time": 0.1123, "step": epoch}))
        text.append(f"2026/11/28 23:{10 + epoch:02d}:59 - mmengine - INFO - Epoch(val) [{epoch}][50/50]  "
                    f"coco/bbox_mAP: {m:.4f}")
    (vis / "scalars.json").write_text("\n".join(scalars) + "\n")
    (run_dir / TS / f"{TS}.log").write_text("\n".join(text) + "\n")
    (run_dir / "stdout.log").write_text("\n".join(text) + "\n")
    err = "UserWarning: Setting MKL_NUM_THREADS environment variable for each process to be 1\n"
    if traceback:
        err += ("[rank0]: Traceback (most recent call last):\n"
                "[rank0]:   File \"train_entry.py\", line 98, in <module>\n"
                "[rank0]:     main()\n"
                "[rank0]: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    (run_dir / "stderr.log").write_text(err)
    return run_dir


def add_job(job_id: str, *, status: str = "succeeded", preset: str = "r50-fpn-1x", gpu_ids=(0, 1, 2, 3),
            cpu: bool = False, reference_ap: float | None = 37.4, max_epochs: int = 12,
            started_at: float = T0, **run) -> JobRecord:
    """A registry entry (and its run dir under the test's FRCNN_TUI_HOME) in the given state:
    running = a detached sleeper carrying the job's marker (the fixture's teardown stops it);
    succeeded/failed = a dead pid plus exit_status."""
    run_dir = write_run(paths.runs_dir() / job_id, max_epochs=max_epochs, **run)
    if status == "running":
        sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **identity.marker_env(job_id)})
        pid, create_time = sleeper.pid, psutil.Process(sleeper.pid).create_time()
    else:
        pid, create_time = 999_999, 1.0  # no process has this create time: never alive
        (run_dir / registry.EXIT_FILE).write_text("0\n" if status == "succeeded" else "1\n")
        if status == "stopped":
            (run_dir / registry.STOP_FILE).write_text("0")
    (run_dir / "plan.json").write_text(json.dumps({"lr": 0.01, "total_batch": 2 * max(1, len(gpu_ids))}))
    record = JobRecord(id=job_id, name=preset, preset=preset, run_dir=str(run_dir), gpu_ids=list(gpu_ids),
                       cpu=cpu, nproc_per_node=2 if cpu else len(gpu_ids), nodes=1, pid=pid, pgid=pid,
                       create_time=create_time, started_at=started_at, port=29500,
                       command=["torchrun"], python=sys.executable, reference_ap=reference_ap,
                       max_epochs=max_epochs)
    registry.save(record)
    return record


def sync(test):
    """Runs an async Pilot test with asyncio.run (no pytest async plugin is installed)."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))

    return run


def make_app(**kw):
    """The TUI as the Pilot tests drive it: no background probe or jobs timers (tests step them),
    a fast job watcher, a fixed host name and clock; any of these can be overridden."""
    from tui.app import FrcnnApp

    # slurm=False: the Plan screen is the same whether or not this machine has sbatch.
    kw = {"probe_interval": None, "jobs_interval": None, "watch_interval": 0.1, "slurm": False, **kw}
    return FrcnnApp(host="gpu-box", clock=lambda: NOW, **kw)


async def settle(app, pilot) -> None:
    """Let the screen's workers finish and the UI catch up (what a user waits for before the next key)."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_demo_plan(app, pilot):
    """From the Home with no GPU (demo-cpu preselected) to its Plan screen; returns that screen."""
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    return app.screen


async def wait_for(pilot, predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)


async def open_monitor(pilot, record) -> None:
    """Opens RECORD's Monitor and waits for its first metrics snapshot."""
    from tui.screens.monitor import MonitorScreen

    app = pilot.app
    app.open_monitor(record)
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.snapshot, what="metrics")


def screen_text(app) -> str:
    """The current screen as plain text (what a user reads), for assertions."""
    from rich.console import Console

    console = Console(width=app.size.width, height=app.size.height, file=io.StringIO(), force_terminal=True,
                      color_system=None, record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def fake_gpus_env(name: str) -> str:
    return str(Path(__file__).resolve().parent / "data" / "gpus" / f"{name}.json")


os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
