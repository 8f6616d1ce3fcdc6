"""Run every benchmark and write BENCHMARKS.md.

  .venv/bin/python bench/run_all.py --write BENCHMARKS.md     # full (`make bench`), about an hour on 2 cores
  .venv/bin/python bench/run_all.py --quick                   # every script at tiny sizes, markdown to stdout
  .venv/bin/python bench/run_all.py --only startup,log_ingest --raw results.json
  .venv/bin/python bench/run_all.py --from-raw results.json --write BENCHMARKS.md   # render again, no run

Each script runs in its own process with --json (and --quick); a script that fails is
reported as such and the others still run (the exit status is then 1). Goals missed are
said plainly, with the cause found by profiling from bench/findings.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from _common import PY, ROOT, cpu_count, cpu_model, cuda_info, fmt_summary, loadavg, summary  # noqa: E402
from bench_job_registry import GOALS as GOALS_JOB_REGISTRY  # noqa: E402

# Run order: cheap first, the long demo last.
SCRIPTS = {
    "startup": "bench_startup.py",
    "log_ingest": "bench_log_ingest.py",
    "tui_jobs": "bench_tui_jobs.py",
    "data_check": "bench_data_check.py",
    "job_registry": "bench_job_registry.py",
    "tui_bytes": "bench_tui_bytes.py",
    "launch_overhead": "bench_launch_overhead.py",
    "sentinel_cost": "bench_sentinel_cost.py",
    "monitor_cost": "bench_monitor_cost.py",
    "demo": "bench_demo.py",
}
BUSY_LOAD = 3.0
# The Monitor's CPU goal is at the demo's log rate: the demo-cpu preset logs every 5 iterations.
SCRIPT_ARGS = {"monitor_cost": ["--log-interval", "5"]}


class LoadSampler:
    """The 1-minute load average every `period` seconds while a benchmark runs (start and end
    alone miss the peaks of other people's jobs)."""

    def __init__(self, period: float = 15.0) -> None:
        self.period, self.samples = period, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.extend(loadavg()[:1])
            if self._stop.wait(self.period):
                return

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.extend(loadavg()[:1])

    def stats(self) -> dict[str, float] | None:
        if not self.samples:
            return None
        return {"max": max(self.samples), "mean": round(sum(self.samples) / len(self.samples), 2),
                "n": len(self.samples)}


def run_script(name: str, quick: bool, timeout: float) -> dict[str, Any]:
    cmd = [PY, str(BENCH / SCRIPTS[name]), "--json", *SCRIPT_ARGS.get(name, [])] + (["--quick"] if quick else [])
    started = time.time()
    load0 = loadavg()
    try:
        with LoadSampler() as sampler:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "bench_wall_s": time.time() - started}
    lines = proc.stdout.strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else {}
    except ValueError:
        data = {}
    if proc.returncode != 0 and "error" not in data:
        data["error"] = f"exit {proc.returncode}: " + (proc.stderr.strip().splitlines() or ["no output"])[-1]
    elif not data:
        data["error"] = "no JSON output: " + (proc.stderr.strip().splitlines() or ["no output"])[-1]
    data["bench_wall_s"] = round(time.time() - started, 1)
    data["load_sampled"] = sampler.stats()
    data.setdefault("loadavg_start", load0)
    data.setdefault("loadavg_end", loadavg())
    return data


# ----------------------------------------------------------------------------- markdown

def findings() -> dict[str, str]:
    path = BENCH / "findings.md"
    if not path.is_file():
        return {}
    sections, current = {}, None
    for line in path.read_text().splitlines():
        m = re.match(r"^## (\S+)", line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: "\n".join(v).strip() for k, v in sections.items()}


def met_text(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "**MISSED**")


def table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    out = ["| measure | median (min–max) | goal | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out


def same_arm_noise(pairs: list[dict], a: str, b: str) -> str:
    """The noise floor: throughput ratios of consecutive runs of the *same* arm (A_i+1/A_i and
    B_i+1/B_i), which would all be 1 on a quiet machine."""
    ratios = [later[arm]["its_per_s"] / earlier[arm]["its_per_s"]
              for arm in (a, b) for earlier, later in zip(pairs, pairs[1:])]
    return fmt_summary(summary(ratios)) if ratios else "n/a (one pair)"


def resolution_note(pairs: list[dict], a: str, b: str) -> list[str]:
    """Say so when neighbouring runs of the same arm differ by more than the 1% the goal is about."""
    ratios = [later[arm]["its_per_s"] / earlier[arm]["its_per_s"]
              for arm in (a, b) for earlier, later in zip(pairs, pairs[1:])]
    if not ratios:
        return []
    worst = max(abs(r - 1) for r in ratios)
    if worst <= 0.01:
        return []
    return ["", f"**Resolution:** consecutive runs of the same arm differed by up to {worst:.0%} (noise floor above), "
            "far more than the 1% the goal is about: on this machine the median ratio can say whether there is a "
            "large cost, not whether a cost below ~1% exists."]


def missed_note(key: str, figure: str, notes: dict[str, str]) -> list[str]:
    text = notes.get(key) or notes.get("not-profiled") or "Not profiled yet."
    return ["", f"**Goal missed: {figure}.** Cause found by profiling:", "", text]


def section_startup(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    frame_goal = "≤ 1.2×" if "first_frame_cpu_ratio" in d else "≤ 1.5×"  # issue 16 lowered it
    rows = [
        (f"`{d.get('help_command', 'frcnn-tui --help')}` until exit ÷ hello-world until exit",
         fmt_summary(d["help_ratio"], ".2f", "×"), "≤ 1.5×", met_text(d["met_help"])),
        ("first frame of the TUI ÷ first frame of a Textual hello-world", fmt_summary(d["first_frame_ratio"], ".2f",
                                                                                      "×"),
         frame_goal, met_text(d["met_first_frame"])),
        *([("… in CPU seconds of each process to its first frame (fairer under load)",
            fmt_summary(d["first_frame_cpu_ratio"], ".2f", "×"), frame_goal, met_text(d["met_first_frame_cpu"])),
           ("frcnn-tui / hello-world first frame, CPU s",
            f"{fmt_summary(d['frcnn_first_frame_cpu_s'])} / {fmt_summary(d['hello_first_frame_cpu_s'])}", "", "")]
          if "first_frame_cpu_ratio" in d else []),
        # The Home fills its presets just after the first frame: the populated Home is timed too,
        # against the same hello-world first frame and under the same goal, so no cost hides there.
        *([("populated Home (presets listed) of the TUI ÷ first frame of the hello-world",
            fmt_summary(d["populated_ratio"], ".2f", "×"), frame_goal, met_text(d["met_populated"])),
           ("… in CPU seconds", fmt_summary(d["populated_cpu_ratio"], ".2f", "×"), frame_goal,
            met_text(d["met_populated_cpu"])),
           ("frcnn-tui populated Home, s from spawn / CPU s",
            f"{fmt_summary(d['frcnn_populated_s'])} / {fmt_summary(d['frcnn_populated_cpu_s'])}", "", "")]
          if "populated_ratio" in d else []),
        ("`frcnn-tui --help`, s to exit", fmt_summary(d["help_exit_s"]), "", ""),
        ("hello-world, s to exit", fmt_summary(d["hello_exit_s"]), "", ""),
        ("frcnn-tui first frame, s from spawn", fmt_summary(d["frcnn_first_frame_s"]), "", ""),
        ("… of which imports (tui.entry, tui.app), s", fmt_summary(d["frcnn_frame_imports_s"]), "", ""),
        ("… of which App start to first frame, s", fmt_summary(d["frcnn_frame_mount_to_frame_s"]), "", ""),
        ("hello-world first frame, s from spawn", fmt_summary(d["hello_first_frame_s"]), "", ""),
        ("… of which `import textual`, s", fmt_summary(d["hello_imports_s"]), "", ""),
        ("… of which App start to first frame, s", fmt_summary(d["hello_mount_to_frame_s"]), "", ""),
        ("bare `python -c pass`, s", fmt_summary(d["python_exit_s"]), "", ""),
    ]
    lines = [f"{d['repeats']} rounds, each running (in this order) the hello-world, the TUI to its first frame, "
             f"`--help` and a bare interpreter; ratios are taken within a round. First frame: both apps headless at "
             f"120x40, timed at the first frame Textual composes (first screen: {d.get('frcnn_first_screen')}); "
             f"the populated Home at the first frame composed once its presets list has rows."
             , ""] + table(rows)
    if not d["met_help"]:
        lines += missed_note("startup-help", "`--help` ratio", notes)
    if not d["met_first_frame"]:
        lines += missed_note("startup-first-frame", "first-frame ratio", notes)
    summary = [("Startup: `frcnn-tui --help` ÷ hello-world", fmt_summary(d["help_ratio"], ".2f", "×"), "≤ 1.5×",
                met_text(d["met_help"])),
               ("Startup: TUI first frame ÷ hello-world", fmt_summary(d["first_frame_ratio"], ".2f", "×"),
                frame_goal, met_text(d["met_first_frame"]))]
    if "first_frame_cpu_ratio" in d:
        summary.append(("Startup: TUI first frame ÷ hello-world, CPU s", fmt_summary(d["first_frame_cpu_ratio"], ".2f",
                                                                                    "×"),
                        frame_goal, met_text(d["met_first_frame_cpu"])))
    if "populated_ratio" in d:
        summary.append(("Startup: TUI populated Home ÷ hello-world first frame, CPU s",
                        fmt_summary(d["populated_cpu_ratio"], ".2f", "×"), frame_goal,
                        met_text(d["met_populated_cpu"])))
    return lines, summary


def section_ingest(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    first, base = d["first_snapshot_wall_s"], d["json_loads_wall_s"]
    ratio = first["median"] / base["median"]
    met = first["median"] <= 1.0
    rows = [
        ("first snapshot (tailer + metrics), wall s", fmt_summary(first), "≤ 1 s", met_text(met)),
        ("first snapshot ÷ plain `json.loads` loop (ratio of medians)", f"{ratio:.3f}", "", ""),
        ("baseline: `json.loads` every line, wall s", fmt_summary(base), "", ""),
        ("first snapshot, CPU s", fmt_summary(d["first_snapshot_cpu_s"]), "", ""),
        ("full in-order ingest with series, wall s", fmt_summary(d["full_ingest_wall_s"]), "", ""),
        ("full ingest ÷ `json.loads` loop (ratio of medians)",
         f"{d['full_ingest_wall_s']['median'] / base['median']:.3f}", "", ""),
        ("peak memory, first snapshot / full ingest, MiB",
         f"{d.get('peak_mib_first_snapshot')} / {d.get('peak_mib_full_ingest')}", "", ""),
        ("idle polling, CPU s per minute", f"{d['idle_poll']['cpu_s_per_min']:.4f}", "", ""),
    ]
    summary = [(f"Log ingest: first snapshot of {d['lines']:,} lines", fmt_summary(first, '.3f', " s")
                + f" ({ratio:.3f}× the json.loads loop)", "≤ 1 s", met_text(met))]
    if "reattach_wall_s" in d:  # the full history (issue 16): cold, and kept by an earlier reader
        kept, kept_cpu = d["reattach_wall_s"], d["reattach_cpu_s"]
        cold_cpu, base_cpu = d["full_ingest_cpu_s"], d["json_loads_cpu_s"]
        kept_ratio = kept_cpu["median"] / base_cpu["median"]
        cold_ratio = cold_cpu["median"] / base_cpu["median"]
        kept_met = kept["median"] <= 1.0 and kept_ratio <= 0.25
        rows += [
            ("full history kept by an earlier reader (`history_cache`), wall s", fmt_summary(kept), "≤ 1 s",
             met_text(kept["median"] <= 1.0)),
            ("… CPU s ÷ `json.loads` loop CPU s (ratio of medians)", f"{kept_ratio:.3f}", "≤ 0.25",
             met_text(kept_ratio <= 0.25)),
            ("full history read from scratch (orjson), CPU s ÷ `json.loads` loop CPU s",
             f"{cold_ratio:.3f}", "≤ 0.25", met_text(cold_ratio <= 0.25)),
            ("CPU s: kept / from scratch / `json.loads` loop",
             f"{kept_cpu['median']:.3f} / {cold_cpu['median']:.3f} / {base_cpu['median']:.3f}", "", ""),
            ("peak memory, full history kept, MiB", f"{d.get('peak_mib_reattach')}", "", ""),
            ("kept history gives the same snapshot as reading from scratch", str(d.get("reattach_same_snapshot")),
             "", ""),
        ]
        if "job_first_reader_wall_s" in d:  # the job keeps its own history (launcher/monitor/history_keeper.py)
            job, job_cpu = d["job_first_reader_wall_s"], d["job_first_reader_cpu_s"]
            job_ratio = job_cpu["median"] / base_cpu["median"]
            rows += [
                ("full history, first reader of a frcnn-tui job (kept by the job as it ran), wall s",
                 fmt_summary(job), "≤ 1 s", met_text(job["median"] <= 1.0)),
                ("… CPU s ÷ `json.loads` loop CPU s (ratio of medians)", f"{job_ratio:.3f}", "≤ 0.25",
                 met_text(job_ratio <= 0.25)),
                ("… gives the same snapshot as reading from scratch", str(d.get("job_first_reader_same_snapshot")),
                 "", ""),
                ("the job's keeper: CPU s over the whole run (rank 0, a thread), keeps",
                 f"{d['job_keeper']['cpu_s']:.2f}, {d['job_keeper']['keeps']}", "", ""),
            ]
        summary.append((f"Log ingest: full history of {d['lines']:,} lines, kept ÷ json.loads loop (CPU)",
                        f"{kept_ratio:.3f}× ({kept['median']:.3f} s wall)", "≤ 0.25×, ≤ 1 s", met_text(kept_met)))
        if "job_first_reader_wall_s" in d:
            summary.append((f"Log ingest: full history of {d['lines']:,} lines, first reader of a frcnn-tui job "
                            "(the job kept it) ÷ json.loads loop (CPU)",
                            f"{job_ratio:.3f}× ({job['median']:.3f} s wall)", "≤ 0.25×, ≤ 1 s",
                            met_text(job["median"] <= 1.0 and job_ratio <= 0.25)))
        # The first reader of a history nobody has read still parses it all: its own row, so the
        # kept figures above never read as the whole answer.
        summary.append((f"Log ingest: full history of {d['lines']:,} lines, first reader of a work dir frcnn-tui "
                        "did not launch ÷ json.loads loop (CPU)",
                        f"{cold_ratio:.3f}×", "≤ 0.25×", met_text(cold_ratio <= 0.25)))
    lines = [f"`bench/bench_log_ingest.py --json`: a {d['lines']:,}-line "
             f"scalars.json ({d['file_mib']} MiB), median of {d['repeats']} (min–max).", ""] + table(rows)
    if "reattach_wall_s" in d:
        lines += ["", "The full history (what `watch --once` prints and the Monitor's charts need) has two means. "
                  "**orjson** parses every line (json.loads for the lines it refuses, so the results are the same: "
                  "tests/test_history_fast_path.py), which is the \"from scratch\" row: parsing a dict and 13 "
                  "floats per line cannot go much below ~0.6× a json.loads loop. So the goal is met by an **index "
                  "of the parsed history** (`launcher/monitor/history_cache.py`): whoever reads a long history "
                  "(`watch --once`, the Monitor, also while it follows a live run) keeps the tailer's positions and "
                  "the bounded metrics (a few hundred KiB) in the user's private cache folder, not beside the log "
                  "(work dirs are often shared or read-only, and a pickle may only be loaded from a folder nobody "
                  "else can write); the next reader checks the code, the files' inodes and fingerprints, and parses "
                  "only the lines written since. A frcnn-tui job does this for its own run dir while it trains "
                  "(`launcher/monitor/history_keeper.py`: a thread of rank 0 reads the new lines every 30 s and keeps "
                  "the state once the history passes 16 MiB, and a last time when training ends), so even the first "
                  "reader of a job's history only parses what came after the last keep; the job pays the parse once, "
                  "spread over the run (the keeper row). The first reader of a work dir frcnn-tui did not launch "
                  "(`watch --work-dir` on a plain MMEngine run) pays the \"from scratch\" cost once."]
    if not met:
        lines += missed_note("log-ingest", "first snapshot within 1 s", notes)
    return lines, summary


def section_tui_jobs(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    goal = f"≤ {d['goal_pct_core']:g}% of a core"
    rows, summary = [], []
    for key, label in (("jobs_screen", "Jobs screen open"), ("monitor", "one Monitor open, nine more jobs live")):
        p = d[key]
        ratio = "n/a" if p["read_over_appended"] is None else f"{p['read_over_appended']:.2f}"
        rows += [(f"{label}: TUI CPU, % of one core", f"{p['pct_core']:.2f}% ({p['cpu_s_per_min']:.3f} CPU-s/min)",
                  goal, met_text(p["met"])),
                 (f"… bytes read ÷ bytes the jobs appended to what it follows", ratio, "≈ 1 (new bytes only)", ""),
                 (f"… bytes read / reads / bytes per read",
                  f"{p['bytes_read']} / {p['reads']} / {p['bytes_per_read']:.0f}", "", "")]
        summary.append((f"{d['jobs']} live jobs, {label}: TUI CPU", f"{p['pct_core']:.2f}% of a core "
                        f"(read {ratio}× what was appended)", goal, met_text(p["met"])))
    lines = [f"`bench/bench_tui_jobs.py --json`: {d['jobs']} jobs in a private registry, each with a live process "
             f"carrying its marker and a work dir of {d['history_lines']:,} lines that grows by a scalars.json line "
             f"and a text-log line every {d['period_s']:g} s (the demo's log rate); the TUI headless at 120x40, "
             f"measured over {d['window_s']:g} s per phase: CPU of its process (all threads), and the bytes its file "
             f"followers read (`FollowedFile.total_bytes_read`) against the bytes appended meanwhile.", ""] + table(rows)
    lines += ["", "Until issue 16 every Jobs refresh (every 5 s) built a fresh tailer per job: it read each job's "
              "text log whole and skimmed its scalars.json again, so the bytes read grew with the histories. The "
              "Jobs screen now follows each job's work dir across refreshes (`launcher.jobs.summary.Followers`), "
              "and a read/appended ratio near 1 says each poll reads only what was written since the last (above 1 "
              "by what was appended just before a window opened)."]
    return lines, summary


def section_data_check(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    train, val = d["sizes"]["train"], d["sizes"]["val"]
    goal = f"≤ {d['goal']:g}"
    rows = [("`data check` ÷ `pycocotools.COCO` on both files", fmt_summary(d["ratio"]), goal, met_text(d["met"])),
            ("`frcnn-tui data check DIR --json`, s", fmt_summary(d["check_s"], ".2f"), "", ""),
            ("`COCO(train); COCO(val)`, s", fmt_summary(d["pycocotools_s"], ".2f"), "", "")]
    lines = [f"`bench/bench_data_check.py --json`: a generated COCO-size set in COCO's layout, train {train[0]:,} images "
             f"and {train[1]:,} boxes, val {val[0]:,} and {val[1]:,} ({d['file_mb']} MB of JSON), an empty file for "
             "every image. A: `frcnn-tui data check DIR --json`, a whole process that parses both files (orjson), "
             "counts what mmdet would keep and drop and stats every image; B: a whole process loading both files with "
             "pycocotools, as mmdet's CocoDataset does before training. Interleaved A B, "
             f"{len(d['pairs'])} pair(s).", ""] + table(rows)
    return lines, [("Data check of a COCO-size set ÷ pycocotools loading it", fmt_summary(d["ratio"]), goal,
                    met_text(d["met"]))]


def section_job_registry(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    goals = {"jobs_s": "≤ {:g} s", "rows_s": "≤ {:g} s", "idle_cpu_s_per_min": "≤ {:g} CPU-s/min"}
    base = d["sizes"]["1"]
    rows, summary = [], []
    for n, s in d["sizes"].items():
        label = "1 finished job" if n == "1" else f"{int(n):,} finished + {s['running']} running"
        for key, what, unit in (("jobs_s", "`jobs --json`, index kept", "s"),
                                ("jobs_first_s", "`jobs --json`, first (every row computed)", "s"),
                                ("rows_s", "Jobs screen: key to rows, a new TUI, index kept", "s"),
                                ("rows_first_s", "Jobs screen: key to rows, first TUI (no index)", "s"),
                                ("idle_cpu_s_per_min", "Jobs screen idle, CPU-s/min", "")):
            if key not in s:
                continue
            ratio = f" ({s[key + '_ratio']:.2f}× the 1-job figure)" if f"{key}_ratio" in s else ""
            limit = GOALS_JOB_REGISTRY.get(key, {}).get(int(n))
            goal = goals[key].format(limit) if limit is not None else ""
            met = met_text(s["met"].get(key)) if key in s.get("met", {}) else ""
            value = f"{s[key]:.3f}{(' ' + unit) if unit else ''}{ratio}"
            rows.append((f"{label}: {what}", value, goal, met))
            if met and n != "1":
                summary.append((f"Registry of {label}: {what}", value, goal, met))
    lines = [f"`bench/bench_job_registry.py --json`: a private registry of N finished jobs (each run dir the recorded "
             "two-epoch MMEngine work dir of tests/data/run_2epochs, hard-linked: logs and scalars, no checkpoint) plus "
             "one running (a live process carrying the job's marker); `frcnn-tui jobs --json` as a whole process (the "
             f"first, then the median of {d['repeats']}), and the TUI headless at 120x40: seconds from the key to the "
             "Jobs screen's rows in a fresh TUI (without, then with the kept index: launcher.jobs.summary_index) and "
             f"its CPU over a {d['window_s']:g} s idle window. Ratios are against the same figure with 1 job in the "
             f"same run ({base['jobs_s']:.3f} s, {base.get('rows_s', 0):.3f} s).", ""] + table(rows)
    if not all(all(s.get("met", {}).values()) for s in d["sizes"].values()):
        lines += missed_note("job-registry", "a registry that grows", notes)
    return lines, summary


def section_tui_bytes(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    labels = {"home": "Home, nothing changing", "jobs_empty": "Jobs, no job",
              "jobs_one_running": "Jobs, one running job (a log line every 2 s)",
              "jobs_1000_finished_one_running": "Jobs, 1,000 finished + 1 running",
              "monitor_one_running": "Monitor following the running job (a log line every 2 s)"}
    rows, summary = [], []
    for name, c in d["cases"].items():
        goal_kb = d["goals_kb_per_min"].get(name)
        goal = ("" if goal_kb is None else "0 KB/min, " if goal_kb == 0 else f"≤ {goal_kb:g} KB/min, ") + \
            f"≤ {d['goal_top_ratio']:g}× top"
        ratio = "n/a" if c["ratio_to_top"] is None else f"{c['ratio_to_top']:.3f}×"
        row = (f"{labels.get(name, name)}: bytes to the terminal", f"{c['kb_per_min']:.1f} KB/min ({ratio} top -d 1)",
               goal, met_text(c["met"]))
        rows.append(row)
        summary.append(row)
    top = [c["top_kb_per_min"] for c in d["cases"].values()]
    lines = [f"`bench/bench_tui_bytes.py --json`: the real program (`python -m tui`) in its own pseudo-terminal "
             f"({d['size'][0]}x{d['size'][1]}, xterm-256color) over a private registry; the screen opened with its key, "
             f"left to settle, then every byte it wrote in a {d['window_s']:g} s window, against `top -d 1` in a pty of "
             f"the same size in the same window ({min(top):.0f}–{max(top):.0f} KB/min).", ""] + table(rows)
    return lines, summary


def section_launch(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    rows = [
        ("throughput via `frcnn-tui launch` ÷ by hand", fmt_summary(d["ratio"]), "≥ 0.99", met_text(d["met"])),
        ("`frcnn-tui launch`, it/s", fmt_summary(d["launch_its_per_s"], ".4f"), "", ""),
        ("by hand (torchrun), it/s", fmt_summary(d["manual_its_per_s"], ".4f"), "", ""),
        ("noise floor: same-arm consecutive runs, ratio", same_arm_noise(d["pairs"], "launch", "manual"), "", ""),
    ]
    lines = [f"{d['repeats']} A/B pairs (A: `frcnn-tui launch --preset demo-cpu` "
             f"{'--cpu --nproc' if d['device'] == 'cpu' else '--gpus'} {d['world_size']}; B: {d['baseline']}), "
             f"run A B A B …; {d['measured_iters_per_run']} iterations measured per run after {d['skip_iters']} "
             f"warmup iterations; dataset {d['dataset']['train']} images at {d['dataset']['size']} px, "
             f"{d['dataset']['imgs']} per process. Iterations/s from MMEngine's `time` field (window 1).",
             ""] + table(rows) + ["", "Per pair (A it/s, B it/s, ratio, load average after): " + "; ".join(
                 f"{p['launch']['its_per_s']:.4f}, {p['manual']['its_per_s']:.4f}, {p['ratio']:.3f}, "
                 f"{p['loadavg'][0] if p.get('loadavg') else '?'}" for p in d["pairs"])]
    lines += resolution_note(d["pairs"], "launch", "manual")
    if not d["met"]:
        lines += missed_note("launch-overhead", "launch overhead", notes)
    return lines, [("Launch: throughput via frcnn-tui ÷ by hand", fmt_summary(d["ratio"]), "≥ 0.99",
                    met_text(d["met"]))]


def section_sentinel(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    ratio_met = d["ratio"]["median"] >= 0.99
    cpu = d.get("sentinel_cpu_pct")
    cpu_met = cpu is not None and cpu["max"] <= 0.5
    rows = [
        ("throughput, sentinel on ÷ off", fmt_summary(d["ratio"]), "≥ 0.99", met_text(ratio_met)),
        ("sentinel on, it/s", fmt_summary(d["on_its_per_s"], ".4f"), "", ""),
        ("sentinel off (`FRCNN_TUI_SENTINEL=off`), it/s", fmt_summary(d["off_its_per_s"], ".4f"), "", ""),
        ("the sentinel's steady-state CPU, % of one core", fmt_summary(cpu, ".3f", "%"), "≤ 0.5%", met_text(cpu_met)),
        ("noise floor: same-arm consecutive runs, ratio", same_arm_noise(d["pairs"], "on", "off"), "", ""),
    ]
    lines = [f"{d['repeats']} A/B pairs (A: `frcnn-tui launch --preset demo-cpu --cpu --nproc {d['world_size']}` "
             f"with its sentinel; B: the same with `FRCNN_TUI_SENTINEL=off`), run A B A B …; "
             f"{d['measured_iters_per_run']} iterations measured per run after {d['skip_iters']} logged lines, "
             f"logging every {d['log_interval']} iterations (the demo's rate); the sentinel's CPU sampled once a "
             f"second from the first logged line to the job's end.", ""] + table(rows) + [
        "", "Per pair (on it/s, off it/s, ratio, sentinel % of a core, whole-life CPU s over s): " + "; ".join(
            f"{p['on']['its_per_s']:.4f}, {p['off']['its_per_s']:.4f}, {p['ratio']:.3f}, "
            f"{p['sentinel'].get('pct', float('nan')):.3f}%, {p['sentinel'].get('life_cpu_s')} s / "
            f"{p['sentinel'].get('life_s', 0):.0f} s" for p in d["pairs"])]
    return lines, [("Sentinel: throughput on ÷ off", fmt_summary(d["ratio"]), "≥ 0.99", met_text(ratio_met)),
                   ("Sentinel: its CPU while following", fmt_summary(cpu, ".3f", "%"), "≤ 0.5%", met_text(cpu_met))]


def section_monitor(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    rows = [
        ("throughput watched (TUI monitor + `watch`) ÷ not watched", fmt_summary(d["ratio"]), "≥ 0.99",
         met_text(d["met_ratio"])),
        ("TUI CPU s per minute of monitoring", fmt_summary(d["tui_cpu_s_per_min"]), "≤ 0.6 (1% of a core)",
         met_text(d["met_tui_cpu"])),
        ("… as % of one core", fmt_summary(d["tui_pct_core"], ".2f", "%"), "≤ 1%", ""),
        ("`frcnn-tui watch` CPU s per minute", fmt_summary(d["watch_cpu_s_per_min"]), "", ""),
        ("tmux server (the terminal) CPU s per minute", fmt_summary(d.get("tmux_cpu_s_per_min")), "", ""),
        ("TUI + watch + tmux, share of the machine's CPU", fmt_summary(d.get("followers_share"), ".2%"), "", ""),
        ("watched, it/s", fmt_summary(d["watched_its_per_s"], ".4f"), "", ""),
        ("not watched, it/s", fmt_summary(d["plain_its_per_s"], ".4f"), "", ""),
        ("noise floor: same-arm consecutive runs, ratio", same_arm_noise(d["pairs"], "watched", "plain"), "", ""),
        ("minutes of monitoring per run", fmt_summary(d["monitored_minutes"], ".2f"), "", ""),
        ("launch to monitor open, s", fmt_summary(d["monitor_open_after_s"], ".1f"), "", ""),
    ]
    lines = [f"{d['repeats']} A/B pairs, both launched with `frcnn-tui launch` ({d['device']} × {d['world_size']}); "
             f"A is followed by the TUI in tmux ({d['terminal']}, keys `j` then `m`: the job's monitor) and by "
             f"`frcnn-tui watch JOB` in a second tmux window. CPU: psutil, the TUI process and its children, from "
             f"the monitor opening to the job's end. Logging every {d.get('log_interval', 1)} iteration(s); "
             f"{d['pairs'][0]['plain']['iters']} iterations measured per plain run after {d['skip_iters']} warmup "
             f"line(s) (the watched run also skips the lines written before its monitor opened).", ""] + table(rows) + [
                 "", "Per pair (A it/s, B it/s, ratio, TUI CPU-s/min, load average after): " + "; ".join(
                     f"{p['watched']['its_per_s']:.4f}, {p['plain']['its_per_s']:.4f}, {p['ratio']:.3f}, "
                     f"{p['watched']['tui_cpu_s_per_min']:.2f}, {p['loadavg'][0] if p.get('loadavg') else '?'}"
                     for p in d["pairs"])]
    lines += resolution_note(d["pairs"], "watched", "plain")
    share = (d.get("followers_share") or {}).get("median")
    if share is not None and share > 1 - 0.99:
        lines += ["", f"**Caveat:** the TUI, `watch` and the terminal together used {share:.1%} of this machine's "
                  "CPU while training wanted all of it, more than the 1% the ≥ 0.99 goal allows: the CPU accounting "
                  "says the monitoring costs training about that much, a cost the ratio above is too noisy to show, "
                  "so its median meeting the goal does not mean the goal is met."]
    if not d["met_ratio"]:
        lines += missed_note("monitor-ratio", "throughput while monitored", notes)
    if not d["met_tui_cpu"]:
        lines += missed_note("monitor-tui-cpu", "TUI CPU per minute", notes)
    return lines, [("Monitor: throughput watched ÷ not watched", fmt_summary(d["ratio"]), "≥ 0.99",
                    met_text(d["met_ratio"])),
                   ("Monitor: TUI CPU s per minute", fmt_summary(d["tui_cpu_s_per_min"]), "≤ 0.6",
                    met_text(d["met_tui_cpu"]))]


# Issue 16's early goal: what a new user sees within four minutes (0.75 within ten is the other).
DEMO_PROMISE = 0.70
DEMO_PROMISE_S = 240.0


def section_demo(d: dict, notes: dict[str, str]) -> tuple[list[str], list[tuple]]:
    if d.get("skipped"):
        return [f"Skipped: {d['skipped']}."], [("Demo: time to bbox mAP ≥ 0.75", "skipped", "≤ 600 s", "n/a")]
    # From each run's validation timeline: the first epoch at or over the lowered promise.
    hits = [next((v["s"] for v in run.get("val_timeline") or []
                  if v["bbox_mAP"] is not None and v["bbox_mAP"] >= DEMO_PROMISE), None) for run in d["runs"]]
    promise_s = summary(hits) if hits and all(h is not None for h in hits) else None
    early_met = bool(promise_s) and promise_s["median"] <= DEMO_PROMISE_S
    rows = [
        ("time from `frcnn-tui demo` to bbox mAP ≥ 0.75, s", fmt_summary(d["time_to_target_s"], ".0f")
         if d.get("time_to_target_s") else "not reached",
         "≤ 600 s" if d["met"] is not None else "", met_text(d["met"])),
        (f"time to bbox mAP ≥ {DEMO_PROMISE:.2f}, s",
         fmt_summary(promise_s, ".0f") if promise_s else "not reached", f"≤ {DEMO_PROMISE_S:.0f} s",
         met_text(early_met) if d["runs"] else ""),
        ("demo wall time, s", fmt_summary(d["wall_s"], ".0f"), "", ""),
        ("best bbox mAP", fmt_summary(d["best_bbox_mAP"]), "≥ 0.75", ""),
    ]
    maps = "; ".join(f"run {i + 1}: " + ", ".join(
        (f"{r['bbox_mAP']:.3f}" if r["bbox_mAP"] is not None else "-")
        + next((f" ({v['s']} s)" for v in run.get("val_timeline") or [] if v["epoch"] == r["epoch"]), "")
        for r in run["map_by_epoch"]) for i, run in enumerate(d["runs"]))
    lines = [f"{d['repeats']} run(s) of `frcnn-tui demo --json` (epochs: {d['epochs']}); the first run also "
             f"generates the synthetic dataset. No side-by-side baseline: an absolute time on this machine.", ""] \
        + table(rows) + ["", f"bbox mAP by epoch (seconds from the start of `frcnn-tui demo`, when known): {maps}"]
    if d.get("note"):
        lines += ["", d["note"]]
    if d["met"] is False:
        lines += missed_note("demo", "demo time to mAP 0.75", notes)
    if d["runs"] and not early_met:
        lines += missed_note("demo-early", f"demo time to mAP {DEMO_PROMISE:.2f}", notes)
    tuning = BENCH / "demo_tuning.md"  # the measurements behind the preset's recipe
    if tuning.is_file():
        lines += ["", tuning.read_text().rstrip()]
    reached = fmt_summary(d["time_to_target_s"], ".0f", " s") if d.get("time_to_target_s") else \
        f"not reached (best {fmt_summary(d['best_bbox_mAP'])} in {fmt_summary(d['wall_s'], '.0f', ' s')})"
    promised = fmt_summary(promise_s, ".0f", " s") if promise_s else "not reached"
    return lines, [("Demo: time to bbox mAP ≥ 0.75", reached, "≤ 600 s", met_text(d["met"])),
                   (f"Demo: time to bbox mAP ≥ {DEMO_PROMISE:.2f}", promised, f"≤ {DEMO_PROMISE_S:.0f} s",
                    met_text(early_met))]


SECTIONS: dict[str, tuple[str, Callable]] = {
    "launch_overhead": ("1. Launch overhead: training throughput, `frcnn-tui launch` vs torchrun by hand",
                        section_launch),
    "sentinel_cost": ("1b. The sentinel's cost: throughput with it on vs off, its own CPU", section_sentinel),
    "monitor_cost": ("2. Monitoring cost: throughput with the TUI and `watch` following the job", section_monitor),
    "startup": ("3. Startup: `--help` and the TUI's first frame vs a Textual hello-world", section_startup),
    "log_ingest": ("4. Log ingest: first snapshot and full history of a long scalars.json", section_ingest),
    "tui_jobs": ("4b. Ten live jobs: the TUI's CPU and the bytes each poll reads", section_tui_jobs),
    "data_check": ("4c. Data check: a COCO-size annotation set vs pycocotools loading it", section_data_check),
    "job_registry": ("4d. A registry that grows: `jobs` and the Jobs screen with 1,000 and 10,000 jobs",
                     section_job_registry),
    "tui_bytes": ("4e. Bytes to the terminal: what each screen sends over an SSH link, against `top -d 1`",
                  section_tui_bytes),
    "demo": ("5. Demo: wall time to bbox mAP ≥ 0.75", section_demo),
}


def machine() -> dict[str, Any]:
    cuda = cuda_info()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                                timeout=10).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                    text=True, cwd=ROOT, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "?", False
    return {"cores": cpu_count(), "cpu": cpu_model(), "gpu": ", ".join(cuda.get("names") or []) or "none",
            "torch": cuda.get("torch"), "python": platform.python_version(), "commit": commit, "dirty": dirty,
            "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "host": platform.node()}


def render(results: dict[str, dict], info: dict[str, Any], quick: bool, started_load: list[float],
           total_s: float, notes_extra: list[str] = ()) -> str:
    notes = findings()
    loads = [x for d in results.values() for key in ("loadavg_start", "loadavg_end") for x in (d.get(key) or [])[:1]]
    loads += started_load[:1] + [d["load_sampled"]["max"] for d in results.values() if d.get("load_sampled")]
    peak = max(loads) if loads else 0.0
    out = ["# Benchmarks", "",
           f"Measured {info['date']} on a {info['cores']}-core machine ({info['cpu']}), GPU: {info['gpu']}; "
           f"Python {info['python']}, torch {info['torch']}; commit {info['commit']}"
           + (" with local changes" if info["dirty"] else "") + ". "
           + ("Quick mode (tiny sizes): not figures to quote. " if quick else "")
           + f"All the benchmarks took {total_s / 60:.1f} min.", "",
           "Rerun: `make bench` (`.venv/bin/python bench/run_all.py --write BENCHMARKS.md`, about an hour here); "
           "one figure: `.venv/bin/python bench/<script>.py [--quick] [--json]`.", "",
           "Method: every figure is a ratio against the plain alternative measured side by side in the same run, "
           "A and B interleaved (A B A B …), given as the median with (min–max) over the repeats. Absolute seconds "
           "are shown for context only.", ""]
    if peak > BUSY_LOAD:
        out += [f"**Busy machine:** the 1-minute load average reached {peak:.1f} on {info['cores']} cores during "
                f"these runs (other engineers' tests and training ran in parallel; per-figure loads below). The "
                f"ratios compare neighbouring runs, but each run got a varying share of the CPU, so the spread "
                f"(min–max) is wider than on an idle machine and the absolute times are slower.", ""]
    out += [f"**Note:** {note}" + "\n" for note in notes_extra]
    summary_rows: list[tuple] = []
    body: list[str] = []
    for key, (title, fn) in SECTIONS.items():
        if key not in results:
            continue
        d = results[key]
        body += ["", f"## {title}", ""]
        if d.get("error") and not any(k in d for k in ("ratio", "help_ratio", "first_snapshot_wall_s", "runs",
                                                        "jobs_screen")):
            body.append(f"**Failed:** {d['error']}")
            summary_rows.append((title.split(":")[0], "failed", "", "**failed**"))
            continue
        try:
            lines, rows = fn(d, notes)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:  # an output this file cannot read
            body.append(f"**Could not render the result** ({type(exc).__name__}: {exc}); raw: `{json.dumps(d)[:500]}`")
            summary_rows.append((title.split(":")[0], "unreadable result", "", "**failed**"))
            continue
        body += lines
        if d.get("error"):
            body += ["", f"**Error:** {d['error']}"]
        load = "–".join(f"{x:.1f}" for x in ((d.get("loadavg_start") or [None])[0],
                                              (d.get("loadavg_end") or [None])[0]) if x is not None)
        sampled = d.get("load_sampled")
        if sampled:
            load += f" (sampled every 15 s: mean {sampled['mean']:.1f}, max {sampled['max']:.1f})"
        body += ["", f"Load average (1 min) at start–end: {load}, on {info['cores']} cores; this benchmark took "
                     f"{d.get('bench_wall_s', 0) / 60:.1f} min."]
        summary_rows += rows
    gpu = BENCH / "gpu.md"  # measured by scripts/gpu_check.sh on a GPU machine, pasted there by hand
    if gpu.is_file():
        body += ["", gpu.read_text().rstrip()]
    out += ["## Summary", "", "| figure | median (min–max) | goal | met |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows]
    out += body
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every script with --quick")
    parser.add_argument("--write", metavar="PATH", help="write the markdown here (default: print it)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCRIPTS)}")
    parser.add_argument("--raw", metavar="PATH", help="also write every script's JSON here")
    parser.add_argument("--from-raw", metavar="PATH", help="render a --raw file again instead of running")
    parser.add_argument("--note", action="append", default=[], help="a remark printed under the machine line "
                        "(kept in the --raw file), e.g. a load peak seen by hand")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per script")
    args = parser.parse_args(argv)
    if args.from_raw:
        raw = json.loads(Path(args.from_raw).read_text())
        results = raw["results"]
        first = next(iter(results.values()), {})
        text = render(results, raw["machine"], raw["quick"], raw.get("start_load") or first.get("loadavg_start") or [],
                      raw.get("total_s") or sum(r.get("bench_wall_s", 0) for r in results.values()),
                      raw.get("notes", []) + args.note)
        return _output(text, args.write)
    names = list(SCRIPTS)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in SCRIPTS]
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    info = machine()
    start_load, started = loadavg(), time.time()
    results = {}
    for name in names:
        print(f"run_all: {name} ({'quick' if args.quick else 'full'}), load {loadavg()[:1]} ...", file=sys.stderr,
              flush=True)
        results[name] = run_script(name, args.quick, args.timeout)
        status = results[name].get("error") or "ok"
        print(f"run_all: {name} done in {results[name]['bench_wall_s']:.0f} s: {status}", file=sys.stderr, flush=True)
    total_s = time.time() - started
    text = render(results, info, args.quick, start_load, total_s, args.note)
    if args.raw:
        Path(args.raw).write_text(json.dumps({"machine": info, "quick": args.quick, "start_load": start_load,
                                              "total_s": total_s, "notes": args.note, "results": results},
                                             indent=1, default=str))
    _output(text, args.write)
    return 1 if any(r.get("error") for r in results.values()) else 0


def _output(text: str, path: str | None) -> int:
    if path:
        Path(path).write_text(text)
        print(f"run_all: wrote {path}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
