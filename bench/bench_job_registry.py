"""A registry that grows: `jobs` and the Jobs screen with 1,000 and 10,000 finished jobs.

A private registry of N finished jobs plus one running, each finished job's run dir the
recorded two-epoch MMEngine work dir of tests/data/run_2epochs (logs, scalars, config: no
checkpoint), hard-linked so 10,000 of them cost no disk; the running job is a live process
carrying its marker (launcher.jobs.identity) with a copy of the same work dir.

Figures, each against the same figure with 1 job (1 finished, no running one) in the same run:
- `frcnn-tui jobs --json` wall time, the first list (every finished job's row computed and
  kept: launcher.jobs.summary_index) and the next ones (median of --repeats);
- the Jobs screen (TUI headless in a child process, 120x40): seconds from the key to its
  rows in a fresh TUI, the first time (no index) and in the next TUI (the index kept), and
  that TUI's CPU seconds per minute with nothing changing (window --window s).

  .venv/bin/python bench/bench_job_registry.py [--quick] [--json] [--sizes 1000,10000] [--window S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, BenchHome, frcnn, loadavg, run_figure  # noqa: E402

RUN = ROOT / "tests" / "data" / "run_2epochs"  # a recorded work dir: small files only
GOALS = {"jobs_s": {1000: 0.5, 10000: 1.5}, "rows_s": {1000: 0.5}, "idle_cpu_s_per_min": {1000: 0.5}}

# The TUI: the key that opens Jobs, until its rows show; again; then an idle window.
DRIVER = r"""
import json, sys, time, asyncio
sys.path.insert(0, sys.argv[1])
window = float(sys.argv[2])
from tui.app import FrcnnApp

async def until(ready, timeout=300.0):
    t0 = time.monotonic()
    while not ready() and time.monotonic() - t0 < timeout:
        await asyncio.sleep(0.01)

async def drive(app):
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    app.switch_mode("jobs")
    await until(lambda: getattr(app.screen, "loaded", False))
    out = {"rows_s": time.monotonic() - t0}
    if window:
        await asyncio.sleep(2.0)
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.sleep(window)
        out["idle_cpu_s_per_min"] = (time.process_time() - cpu) / (time.monotonic() - wall) * 60
    out["rows"] = app.screen.query_one("#jobs").row_count
    app.exit(out)

class Driven(FrcnnApp):
    CSS_PATH = sys.argv[1] + "/tui/app.tcss"

    def on_mount(self):
        super().on_mount()
        self.run_worker(drive(self))

print(json.dumps({"result": Driven().run(headless=True, size=(120, 40))}), flush=True)
"""


def make_registry(home: BenchHome, finished: int, running: bool) -> subprocess.Popen | None:
    """FINISHED finished jobs (exit file 0, leader long gone) and maybe one live one."""
    os.environ["FRCNN_TUI_HOME"] = home.env["FRCNN_TUI_HOME"]
    import psutil

    from launcher import paths
    from launcher.jobs import identity, registry
    from launcher.jobs.registry import JobRecord

    now = time.time()
    jobs_dir, runs_dir = paths.jobs_dir(), paths.runs_dir()

    def entry(job_id: str, run_dir: Path, pid: int, create_time: float, started: float) -> None:
        record = JobRecord(id=job_id, name=f"run{job_id[-5:]}", preset="r50-fpn-1x", run_dir=str(run_dir),
                           gpu_ids=[0], cpu=False, nproc_per_node=1, nodes=1, pid=pid, pgid=pid,
                           create_time=create_time, started_at=started, port=29500, command=["torchrun"],
                           python=sys.executable, max_epochs=2)
        # registry.save's format, without its fsync per file (10,000 fsyncs measure the disk)
        (jobs_dir / f"{job_id}.json").write_text(json.dumps(record.to_dict(), indent=2))

    for i in range(finished):
        job_id = f"20261101-000000-{i:05d}"
        run_dir = runs_dir / job_id
        shutil.copytree(RUN, run_dir, copy_function=os.link)
        (run_dir / registry.EXIT_FILE).write_text("0\n")
        entry(job_id, run_dir, 1, 1.0, now - 86400 - i)
    if not running:
        return None
    job_id = "20261207-000000-live"
    run_dir = runs_dir / job_id
    shutil.copytree(RUN, run_dir)
    proc = subprocess.Popen(["sleep", "3600"], start_new_session=True, stdin=subprocess.DEVNULL,
                            env={**home.env, **identity.marker_env(job_id)})
    entry(job_id, run_dir, proc.pid, psutil.Process(proc.pid).create_time(), now)
    return proc


def timed_jobs(env: dict[str, str]) -> float:
    t0 = time.monotonic()
    out = frcnn(["jobs", "--json"], env)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"jobs --json failed: {out.stderr.strip()[-300:]}")
    return took


def tui_run(home: BenchHome, window: float) -> dict:
    """A fresh TUI: seconds from the key to the Jobs screen's rows, then its idle CPU over WINDOW."""
    child = subprocess.run([PY, "-c", DRIVER, str(ROOT), str(window)], capture_output=True, text=True,
                           env=home.env, cwd=ROOT, timeout=900, stdin=subprocess.DEVNULL)
    lines = [ln for ln in child.stdout.splitlines() if ln.startswith('{"result"')]
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the TUI child failed: {child.stderr.strip()[-500:]}")
    return json.loads(lines[-1])["result"]


def measure_size(finished: int, running: bool, repeats: int, window: float, tui: bool) -> dict:
    with BenchHome("bench_job_registry_") as home:
        proc = make_registry(home, finished, running)
        try:
            first = timed_jobs(home.env)
            kept = [timed_jobs(home.env) for _ in range(repeats)]
            out = {"finished": finished, "running": int(running), "jobs_first_s": first,
                   "jobs_s": statistics.median(kept), "jobs_s_min": min(kept), "jobs_s_max": max(kept)}
            if tui:
                shutil.rmtree(Path(home.env["FRCNN_TUI_HOME"]) / "cache", ignore_errors=True)
                out["rows_first_s"] = tui_run(home, 0)["rows_s"]  # every row computed (no index yet)
                out.update(tui_run(home, window))  # a new TUI, the index kept: the usual case
            return out
        finally:
            if proc is not None:
                proc.kill()
                proc.wait()


def measure(args: argparse.Namespace) -> dict:
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([200] if args.quick else [1000, 10000])
    window = args.window or (5.0 if args.quick else 60.0)
    repeats = args.repeats or (1 if args.quick else 5)
    result: dict = {"figure": "job_registry", "window_s": window, "repeats": repeats, "loadavg_start": loadavg()}
    base = measure_size(1, False, repeats, window, tui=True)
    result["sizes"] = {"1": base}
    for n in sizes:
        # The TUI at 10,000 has no number among the goals ("usable"): its figures say what it is.
        d = measure_size(n, True, repeats, window, tui=True)
        for key in ("jobs_s", "jobs_first_s", "rows_s", "rows_first_s", "idle_cpu_s_per_min"):
            if key in d and base.get(key):
                d[f"{key}_ratio"] = d[key] / base[key]
        d["met"] = {key: d[key] <= goal[n] for key, goal in GOALS.items() if n in goal and key in d}
        result["sizes"][str(n)] = d
    result["met"] = all(all(d.get("met", {}).values()) for d in result["sizes"].values())
    result["loadavg_end"] = loadavg()
    return result


def describe(r: dict) -> list[str]:
    lines = [f"registry scale: `jobs --json` median of {r['repeats']}, TUI idle window {r['window_s']:.0f} s"]
    for n, d in r["sizes"].items():
        text = f"  {n} finished + {d['running']} running: jobs {d['jobs_s']:.3f} s (first {d['jobs_first_s']:.3f} s)"
        if "rows_s" in d:
            text += (f"; Jobs rows {d['rows_s']:.3f} s (first {d['rows_first_s']:.3f} s), "
                     f"idle {d['idle_cpu_s_per_min']:.3f} CPU-s/min, {d['rows']} rows")
        if d.get("met"):
            text += "; " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in d["met"].items())
        lines.append(text)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 jobs, 5 s window, one repeat")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--sizes", help="finished-job counts, comma separated (default 1000,10000)")
    parser.add_argument("--repeats", type=int, help="`jobs` runs after the first (default 5)")
    parser.add_argument("--window", type=float, help="seconds of the TUI's idle window (default 60)")
    return run_figure("job_registry", measure, parser.parse_args(argv), describe)


if __name__ == "__main__":
    sys.exit(main())
