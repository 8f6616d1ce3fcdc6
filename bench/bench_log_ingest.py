"""Benchmark the log tailer: ingesting a long scalars.json, and polling an idle job.

Writes a 1,000,000-line scalars.json (``--quick``: 10,000) in MMEngine's format into a
temp work dir, then measures, in the same run:

* first snapshot: WorkDirTailer.poll() (default budget) + JobMetrics.snapshot(), i.e.
  what ``frcnn-tui watch`` shows first;
* full ingest: every line parsed in order, snapshot with series (what ``watch --once``
  prints and the Monitor's charts need), read from scratch ("cold": orjson parse);
* reattach: the same full history when an earlier reader kept it
  (``launcher.monitor.history_cache``; the cache lives in a temp FRCNN_TUI_HOME);
* job's first reader: the full history of a second work dir, written in chunks while
  the job's own ``HistoryKeeper`` (launcher.monitor.history_keeper, the thread rank 0
  of a frcnn-tui job runs) follows it, read by its first reader; plus the keeper's
  own CPU time, which the job pays over its run;
* baseline: a plain ``json.loads`` loop over every line (results thrown away);
* peak memory above the interpreter's own, for both of ours (a child process each,
  VmHWM, so tracemalloc's overhead does not distort the timings; Linux only);
* idle polling cost: CPU seconds per minute while polling an unchanging work dir at
  the watch interval.

Timings are the median of ``--repeats`` runs (3; quick: 1) with min and max.
Prints markdown rows, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from launcher.monitor.workdir import WorkDirTailer  # noqa: E402
from launcher.monitor import history_cache  # noqa: E402
from launcher.monitor.history_keeper import HistoryKeeper  # noqa: E402
from launcher.monitor.metrics import JobMetrics  # noqa: E402
from launcher.monitor.run_follower import catch_up  # noqa: E402

STAMP = "20261128_231000"
LINES_PER_EPOCH = 146  # COCO 1x: 7,330 iterations per epoch / LoggerHook interval 50
INTERVAL = 50


def write_work_dir(root: Path, lines: int, keeper: HistoryKeeper | None = None) -> Path:
    """A work dir whose scalars.json has ``lines`` lines (a val line closes each epoch).
    ``keeper``: started once the file exists and stopped at the end, as in a job."""
    rng = random.Random(0)
    # Full-precision floats as MMEngine writes them; a pool keeps generation fast.
    pool = [
        '{"lr": %r, "data_time": %r, "loss": %r, "loss_rpn_cls": %r, "loss_rpn_bbox": %r, '
        '"loss_cls": %r, "acc": %r, "loss_bbox": %r, "time": %r, ' % (
            0.02 * rng.random(), 0.01 * rng.random(), 0.5 + rng.random(), 0.1 * rng.random(),
            0.05 * rng.random(), 0.4 * rng.random(), 90 + 9 * rng.random(), 0.3 * rng.random(),
            0.3 + 0.01 * rng.random())
        for _ in range(4096)
    ]
    path = root / STAMP / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    with open(path, "w") as fh:
        if keeper is not None:
            keeper.start()
        buf, epoch, global_iter = [], 1, 0
        for i in range(lines):
            if (i + 1) % (LINES_PER_EPOCH + 1) == 0:
                m = 0.3 + 0.005 * (epoch % 16)  # plausible fractions however many epochs
                buf.append('{"coco/bbox_mAP": %.3f, "coco/bbox_mAP_50": %.3f, "coco/bbox_mAP_75": %.3f, '
                           '"coco/bbox_mAP_s": 0.2, "coco/bbox_mAP_m": 0.4, "coco/bbox_mAP_l": 0.5, '
                           '"data_time": 0.01, "time": 0.1, "step": %d}\n' % (m, m + 0.2, m + 0.03, epoch))
                epoch += 1
            else:
                global_iter += INTERVAL
                buf.append('%s"epoch": %d, "iter": %d, "memory": 3412, "step": %d}\n'
                           % (pool[i & 4095], epoch, global_iter, global_iter))
            if len(buf) >= 65536:
                fh.write("".join(buf))
                fh.flush()  # the keeper reads the file as it grows
                buf.clear()
        fh.write("".join(buf))
    if keeper is not None:
        keeper.stop()  # what the end of training does: the last lines, kept
    return path


def first_snapshot(work_dir: Path) -> dict:
    metrics = JobMetrics(max_epochs=12, reference_ap=37.4)
    metrics.update(WorkDirTailer(work_dir).poll())
    return metrics.snapshot()


def full_ingest(work_dir: Path, keep: bool = False) -> tuple[dict, WorkDirTailer, JobMetrics]:
    """What ``watch --once`` does: every line, in order, then a snapshot with series;
    ``keep``: starting from the history an earlier reader kept."""
    tailer, metrics = WorkDirTailer(work_dir), JobMetrics(max_epochs=12, reference_ap=37.4)
    catch_up(tailer, metrics, keep=keep)
    return metrics.snapshot(series=True, now=0), tailer, metrics


def reattach(work_dir: Path) -> dict:
    return full_ingest(work_dir, keep=True)[0]


def json_loads_loop(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            json.loads(line)
            n += 1
    return n


def timed(fn, *args) -> tuple[float, float]:
    """(wall, CPU) seconds: on a shared machine the wall time mostly measures the
    wait for a core, so CPU time is reported beside it."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def _status_mib(field: str) -> float:
    # VmHWM, unlike ru_maxrss, starts afresh at exec: ru_maxrss would report the
    # parent's peak, inherited through fork.
    with open("/proc/self/status") as fh:
        for row in fh:
            if row.startswith(field + ":"):
                return int(row.split()[1]) / 1024
    raise ValueError(field)


def peak_memory_mib(mode: str, work_dir: Path) -> float | None:
    """Peak RSS growth of one ingest, measured in a fresh child interpreter."""
    try:
        out = subprocess.run([sys.executable, __file__, "--child", mode, str(work_dir)],
                             capture_output=True, text=True, timeout=600, check=True)
        return json.loads(out.stdout)["peak_mib"]
    except (subprocess.SubprocessError, OSError, ValueError, KeyError):
        return None


def _child(mode: str, work_dir: Path) -> None:
    base = _status_mib("VmRSS")
    {"first": first_snapshot, "full": full_ingest, "reattach": reattach}[mode](work_dir)
    print(json.dumps({"peak_mib": round(_status_mib("VmHWM") - base, 1)}))


def idle_poll_cost(tailer: WorkDirTailer, metrics: JobMetrics, seconds: float, interval: float) -> dict:
    polls = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        metrics.update(tailer.poll())
        polls += 1
        time.sleep(interval)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"polls": polls, "cpu_s_per_min": cpu / wall * 60, "pct_core": cpu / wall * 100,
            "ms_per_poll": cpu / polls * 1000}


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 lines, 1 repeat, 1 s of polling")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--lines", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "WORK_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    lines = args.lines or (10_000 if args.quick else 1_000_000)
    repeats = max(1, args.repeats or (1 if args.quick else 3))
    poll_seconds, interval = (1.0, 0.25) if args.quick else (10.0, 1.0)

    with tempfile.TemporaryDirectory(prefix="bench_log_ingest_") as tmp:
        work_dir = Path(tmp) / "work_dir"
        os.environ["FRCNN_TUI_HOME"] = str(Path(tmp) / "home")  # the kept history goes there
        if args.quick:
            history_cache.SAVE_MIN_BYTES = 0  # a quick file is smaller than what is worth keeping
        path = write_work_dir(work_dir, lines)
        cold = full_ingest(work_dir, keep=True)[0]  # keeps the history for `reattach`
        same = reattach(work_dir) == cold
        job_dir = Path(tmp) / "job_run_dir"
        keeper = HistoryKeeper(job_dir, period=0.5)
        write_work_dir(job_dir, lines, keeper)
        # Nobody has read job_dir: what its first reader gets is what the job kept.
        job_same = reattach(job_dir) == full_ingest(job_dir)[0]
        runs = {"first_snapshot": [], "full_ingest": [], "reattach": [], "job_first_reader": [], "json_loads": []}
        for _ in range(repeats):
            runs["first_snapshot"].append(timed(first_snapshot, work_dir))
            runs["full_ingest"].append(timed(full_ingest, work_dir))
            runs["reattach"].append(timed(reattach, work_dir))
            runs["job_first_reader"].append(timed(reattach, job_dir))
            runs["json_loads"].append(timed(json_loads_loop, path))
        _snap, tailer, metrics = full_ingest(work_dir)
        idle = idle_poll_cost(tailer, metrics, poll_seconds, interval)
        result = {
            "lines": lines,
            "file_mib": round(path.stat().st_size / 2**20, 1),
            "repeats": repeats,
            **{f"{name}_{kind}_s": summary([t[i] for t in times])
               for name, times in runs.items() for i, kind in enumerate(("wall", "cpu"))},
            "peak_mib_first_snapshot": peak_memory_mib("first", work_dir),
            "peak_mib_full_ingest": peak_memory_mib("full", work_dir),
            "peak_mib_reattach": peak_memory_mib("reattach", work_dir),
            "reattach_same_snapshot": same,
            "job_first_reader_same_snapshot": job_same,
            "job_keeper": {"cpu_s": round(keeper.cpu_s, 3), "keeps": keeper.keeps},
            "idle_poll": {**idle, "interval_s": interval, "seconds": poll_seconds},
        }
    for name in ("first_snapshot", "full_ingest", "reattach", "job_first_reader"):
        for kind in ("wall", "cpu"):
            result[f"speedup_{name}_vs_json_loads_{kind}"] = (
                result[f"json_loads_{kind}_s"]["median"] / result[f"{name}_{kind}_s"]["median"])
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"scalars.json: {lines:,} lines, {result['file_mib']} MiB, median of {repeats}")
    print("| measure | median | min | max |")
    print("|---|---|---|---|")
    for key, label in (("first_snapshot", "first snapshot (tailer + metrics)"),
                       ("full_ingest", "full in-order ingest + series"),
                       ("reattach", "full history, kept by an earlier reader"),
                       ("job_first_reader", "full history, first reader of a job (kept by the job)"),
                       ("json_loads", "baseline: json.loads every line")):
        for kind in ("wall", "cpu"):
            s = result[f"{key}_{kind}_s"]
            print(f"| {label}, {kind} s | {s['median']:.3f} | {s['min']:.3f} | {s['max']:.3f} |")
    for key, label in (("first_snapshot", "first snapshot"), ("full_ingest", "full ingest"),
                       ("reattach", "full history, kept"),
                       ("job_first_reader", "full history, first reader of a job")):
        print(f"| {label} speedup vs json.loads (wall / cpu) | "
              f"{result[f'speedup_{key}_vs_json_loads_wall']:.1f}x / "
              f"{result[f'speedup_{key}_vs_json_loads_cpu']:.1f}x | | |")
    print(f"| peak memory, first snapshot, MiB | {result['peak_mib_first_snapshot']} | | |")
    print(f"| peak memory, full ingest, MiB | {result['peak_mib_full_ingest']} | | |")
    print(f"| peak memory, full history kept, MiB | {result['peak_mib_reattach']} | | |")
    print(f"| the job's keeper: CPU s over the run, keeps | {result['job_keeper']['cpu_s']:.2f}, "
          f"{result['job_keeper']['keeps']} | | |")
    print(f"| idle polling, CPU s per minute (interval {interval} s) | {idle['cpu_s_per_min']:.4f} | | |")
    print(f"| idle polling, % of one core | {idle['pct_core']:.3f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
