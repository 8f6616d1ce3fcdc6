"""The TUI following ten live jobs: CPU per minute, and whether each poll reads only new bytes.

Ten jobs in a private registry, each "live": a process carrying the job's marker
(launcher.jobs.identity, so the registry calls it running) and a work dir that one
writer process appends to at the demo's log rate (a scalars.json line and an MMEngine
text line per job every PERIOD s), after a history of HISTORY_LINES lines each.

The TUI runs headless in a child process (120x40) and is measured over two windows:

1. the Jobs screen open (it refreshes every job's row every 5 s);
2. then one job's Monitor open, the other nine still live (covered, the Jobs screen
   reads nothing).

Per window: the TUI's CPU seconds per minute (its process, all threads), and the
bytes its file followers read (``FollowedFile.total_bytes_read``) against the bytes
the writer appended to the files it follows in that window: a ratio of ~1 means each
poll read only what was new. CPU seconds, not wall time: the machine is shared.

  .venv/bin/python bench/bench_tui_jobs.py [--quick] [--json] [--window S]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, BenchHome, loadavg, run_figure  # noqa: E402

GOAL_PCT = 2.0  # % of one core
JOBS = 10
PERIOD = 2.0  # s between log lines: the demo logs every 5 iterations at ~2.5-4 it/s
HISTORY_LINES = 2000
STAMP = "20261130_120000"

# The writer: appends a scalars line and a text line to every job's work dir each PERIOD
# seconds; prints the bytes written per file so far when told (a line on stdin).
WRITER = r"""
import json, sys, time, select
dirs, period = sys.argv[1:-1], float(sys.argv[-1])
step = {d: 0 for d in dirs}
written = {}
def line(d):
    step[d] += 5
    s = step[d]
    loss = 1.5 / (1 + s / 500)
    rec = {"lr": 0.002, "data_time": 0.0104, "loss": loss, "loss_rpn_cls": loss * 0.2,
           "loss_rpn_bbox": loss * 0.05, "loss_cls": loss * 0.4, "acc": 91.2, "loss_bbox": loss * 0.35,
           "time": 0.31, "epoch": 1 + s // 400, "iter": s, "memory": 812, "step": s}
    text = (f"2026/11/30 12:00:00 - mmengine - INFO - Epoch(train) [{1 + s // 400}][{s % 400:>3}/400]  "
            f"lr: 2.0000e-03  eta: 0:09:00  time: 0.3100  data_time: 0.0104  memory: 812  loss: {loss:.4f}\n")
    return json.dumps(rec) + "\n", text
def append(path, text):
    with open(path, "a") as fh:
        fh.write(text)
    written[path] = written.get(path, 0) + len(text.encode())
stamp = sys.stdin.readline().strip()
for d in dirs:  # the history
    s, t = zip(*(line(d) for _ in range(int(stamp))))
    append(f"{d}/STAMP/vis_data/scalars.json", "".join(s))
    append(f"{d}/STAMP/STAMP.log", "".join(t))
print(json.dumps(written), flush=True)
while True:
    t0 = time.time()
    for d in dirs:
        s, t = line(d)
        append(f"{d}/STAMP/vis_data/scalars.json", s)
        append(f"{d}/STAMP/STAMP.log", t)
    if select.select([sys.stdin], [], [], max(0.0, period - (time.time() - t0)))[0]:
        if not sys.stdin.readline():
            break
        print(json.dumps(written), flush=True)
""".replace("STAMP", STAMP)

# The TUI: Jobs screen, a window; then a Monitor, a window. Between phases it asks the
# parent (a line on stdout, an answer on stdin) so both count the same window.
DRIVER = r"""
import json, sys, time, asyncio
sys.path.insert(0, sys.argv[1])
warmup, window, job = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
from launcher.monitor.follow import FollowedFile
from launcher.jobs import registry
from tui.app import FrcnnApp

def mark():
    return {"cpu": time.process_time(), "wall": time.monotonic(),
            "bytes": FollowedFile.total_bytes_read, "reads": FollowedFile.total_reads}

def ask(phase):
    print(json.dumps({"phase": phase}), flush=True)
    return json.loads(sys.stdin.readline())

async def until(ready, timeout=120.0):
    t0 = time.monotonic()
    while not ready() and time.monotonic() - t0 < timeout:
        await asyncio.sleep(0.1)

async def drive(app):
    out = {}
    app.switch_mode("jobs")
    for phase in ("jobs", "monitor"):
        if phase == "monitor":
            app.open_monitor(registry.find(job))
            await until(lambda: getattr(app.screen, "snapshot", None) is not None)  # the history, read
        else:
            await until(lambda: getattr(app.screen, "loaded", False))  # every job's history, read once
        await asyncio.sleep(warmup)
        before, w0 = mark(), ask(phase + "_start")
        await asyncio.sleep(window)
        after, w1 = mark(), ask(phase + "_end")
        out[phase] = {"cpu_s": after["cpu"] - before["cpu"], "wall_s": after["wall"] - before["wall"],
                      "bytes_read": after["bytes"] - before["bytes"], "reads": after["reads"] - before["reads"],
                      "written_start": w0, "written_end": w1}
    out["screen"] = type(app.screen).__name__
    app.exit(out)

class Driven(FrcnnApp):
    CSS_PATH = sys.argv[1] + "/tui/app.tcss"  # a class defined in -c has no file to be relative to

    def on_mount(self):
        super().on_mount()
        self.run_worker(drive(self))

result = Driven().run(headless=True, size=(120, 40))
print(json.dumps({"result": result}), flush=True)
"""


def make_jobs(home: BenchHome, n: int) -> tuple[list[str], list[subprocess.Popen]]:
    """N registry entries with a live process carrying each job's marker; their run dirs."""
    os.environ["FRCNN_TUI_HOME"] = home.env["FRCNN_TUI_HOME"]
    import psutil

    from launcher import paths
    from launcher.jobs import identity, registry
    from launcher.jobs.registry import JobRecord

    dirs, procs = [], []
    for i in range(n):
        job_id = f"20261130-1200{i:02d}-bench"
        run_dir = paths.runs_dir() / job_id
        (run_dir / STAMP / "vis_data").mkdir(parents=True)
        (run_dir / "demo-cpu.py").write_text("train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20)\n")
        proc = subprocess.Popen(["sleep", "3600"], start_new_session=True, stdin=subprocess.DEVNULL,
                                env={**home.env, **identity.marker_env(job_id)})
        procs.append(proc)
        registry.save(JobRecord(
            id=job_id, name="demo-cpu", preset="demo-cpu", run_dir=str(run_dir), gpu_ids=[], cpu=True,
            nproc_per_node=2, nodes=1, pid=proc.pid, pgid=proc.pid, create_time=psutil.Process(proc.pid).create_time(),
            started_at=time.time(), port=29500 + i, command=["torchrun"], python=sys.executable,
            reference_ap=None, max_epochs=20))
        dirs.append(str(run_dir))
    return dirs, procs


def appended(w0: dict, w1: dict, dirs: list[str]) -> int:
    return sum(w1.get(p, 0) - w0.get(p, 0) for p in w1 if any(p.startswith(d + "/") for d in dirs))


def measure(args: argparse.Namespace) -> dict:
    window = args.window or (3.0 if args.quick else 60.0)
    warmup = 2.0 if args.quick else 12.0  # the first Jobs refresh reads each history once
    result: dict = {"figure": "tui_jobs", "jobs": JOBS, "period_s": PERIOD, "history_lines": HISTORY_LINES,
                    "window_s": window, "goal_pct_core": GOAL_PCT, "loadavg_start": loadavg()}
    with BenchHome("bench_tui_jobs_") as home:
        dirs, sleepers = make_jobs(home, JOBS)
        writer = subprocess.Popen([PY, "-c", WRITER, *dirs, str(PERIOD)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=home.env)
        tui = None
        try:
            writer.stdin.write(f"{HISTORY_LINES}\n")
            writer.stdin.flush()
            json.loads(writer.stdout.readline())  # the history is written
            job = Path(dirs[0]).name
            tui = subprocess.Popen([PY, "-c", DRIVER, str(ROOT), str(warmup), str(window), job],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=home.env,
                                   cwd=ROOT)
            final = None
            for raw in tui.stdout:
                msg = json.loads(raw)
                if "result" in msg:
                    final = msg["result"]
                    break
                writer.stdin.write("\n")
                writer.stdin.flush()
                tui.stdin.write(writer.stdout.readline())
                tui.stdin.flush()
            if tui.wait(timeout=60) != 0 or not final:
                raise RuntimeError(f"the TUI child failed (exit {tui.returncode})")
        finally:
            for p in [tui, writer, *sleepers]:
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
    for phase, followed in (("jobs", dirs), ("monitor", dirs[:1])):
        d = final[phase]
        phase = f"{phase}_screen" if phase == "jobs" else phase
        new = appended(d["written_start"], d["written_end"], followed)
        result[phase] = {
            "cpu_s_per_min": d["cpu_s"] / d["wall_s"] * 60,
            "pct_core": d["cpu_s"] / d["wall_s"] * 100,
            "bytes_read": d["bytes_read"], "bytes_appended": new, "reads": d["reads"],
            "bytes_per_read": d["bytes_read"] / d["reads"] if d["reads"] else 0,
            "read_over_appended": d["bytes_read"] / new if new else None,
        }
        result[phase]["met"] = result[phase]["pct_core"] <= GOAL_PCT
    result["met"] = result["jobs_screen"]["met"] and result["monitor"]["met"]
    result["loadavg_end"] = loadavg()
    return result


def describe(r: dict) -> list[str]:
    lines = [f"TUI following {r['jobs']} live jobs (a line each every {r['period_s']} s), {r['window_s']:.0f} s windows"]
    for phase, label in (("jobs_screen", "Jobs screen"), ("monitor", "one Monitor, nine more live")):
        d = r[phase]
        ratio = "n/a" if d["read_over_appended"] is None else f"{d['read_over_appended']:.2f}"
        lines.append(f"  {label}: {d['pct_core']:.2f}% of a core ({d['cpu_s_per_min']:.3f} CPU-s/min): "
                     f"{'met' if d['met'] else 'MISSED'}; read {d['bytes_read']} B in {d['reads']} reads "
                     f"for {d['bytes_appended']} B appended (read/appended {ratio})")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s windows")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--window", type=float, help="seconds per measured window")
    return run_figure("tui_jobs", measure, parser.parse_args(argv), describe)


if __name__ == "__main__":
    sys.exit(main())
