"""Shared helpers for the bench scripts (not a benchmark itself).

Every figure is a ratio against the plain alternative measured in the same run, A and B
interleaved (A B A B ...), reported as the median with min and max over the repeats:
the machine this runs on is shared, so absolute seconds mean little and a ratio of
neighbouring runs means much more.

Only the stdlib and psutil (a frcnn-tui dependency) are imported here.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import psutil

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
PRESET = "demo-cpu"


# ----------------------------------------------------------------------------- numbers

def summary(values: Iterable[float | None]) -> dict[str, Any] | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def fmt_summary(s: dict | None, spec: str = ".3f", unit: str = "") -> str:
    """'0.995 (0.981–1.012)'; a single value alone."""
    if not s:
        return "n/a"
    if s.get("n") == 1 or s["min"] == s["max"]:
        return f"{s['median']:{spec}}{unit}"
    return f"{s['median']:{spec}}{unit} ({s['min']:{spec}}–{s['max']:{spec}})"


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cuda_info(python: str = PY) -> dict[str, Any]:
    """Ask the training interpreter (never this process: frcnn-tui does not import torch)."""
    code = ("import json, torch; ok = torch.cuda.is_available(); "
            "print(json.dumps({'available': ok, 'count': torch.cuda.device_count() if ok else 0, "
            "'torch': torch.__version__, 'names': [torch.cuda.get_device_name(i) for i in "
            "range(torch.cuda.device_count())] if ok else []}))")
    try:
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, OSError, ValueError, IndexError):
        return {"available": False, "count": 0, "torch": None, "names": []}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


# ----------------------------------------------------------------------------- environment

class BenchHome:
    """A private FRCNN_TUI_HOME (registry, runs, caches) in a temp dir, removed at exit."""

    def __init__(self, prefix: str, keep: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.home = self.root / "home"
        self.keep = keep
        self.env = dict(os.environ, FRCNN_TUI_HOME=str(self.home))
        self.env.pop("FRCNN_TUI_FAKE_GPUS", None)

    def __enter__(self) -> "BenchHome":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


def frcnn(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """`frcnn-tui ARGS` as a user runs it (`python -m launcher.cli.main`)."""
    return subprocess.run([PY, "-m", "launcher.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def make_dataset(out: Path, *, train: int, val: int, size: int, seed: int = 3, python: str = PY) -> Path:
    proc = subprocess.run([python, str(ROOT / "launcher" / "stack" / "synthetic_data.py"), "--out", str(out), "--seed",
                           str(seed), "--train", str(train), "--val", str(val), "--size", str(size)],
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"synthetic_data.py failed: {proc.stderr.strip()[-2000:]}")
    return out


# ----------------------------------------------------------------------------- training runs

def device_args(device: dict[str, Any]) -> list[str]:
    if device["kind"] == "gpu":
        return ["--gpus", str(device["count"])]
    return ["--cpu", "--nproc", str(device["count"])]


def pick_device(want: str, gpus: int | None, nproc: int, python: str = PY) -> dict[str, Any]:
    """{'kind': 'cpu'|'gpu', 'count': N, 'cuda': {...}}. `auto`: the GPUs when CUDA works."""
    cuda = cuda_info(python) if want in ("auto", "gpu") else {"available": False, "count": 0}
    if want == "gpu" and not cuda.get("available"):
        raise RuntimeError("--device gpu: torch.cuda.is_available() is False in the training interpreter")
    if want == "gpu" or (want == "auto" and cuda.get("available")):
        return {"kind": "gpu", "count": gpus or cuda["count"], "cuda": cuda}
    return {"kind": "cpu", "count": nproc, "cuda": cuda}


def training_cfg_options(epochs: int, log_interval: int = 1) -> list[str]:
    """The same for every run: a log line every `log_interval` iterations whose `time` is the
    mean over exactly those iterations (window = interval; with 1, each iteration's own time,
    not MMEngine's 10-iteration mean), and no validation, so a run is training only."""
    return [f"train_cfg.max_epochs={epochs}", "train_cfg.val_begin=100000",
            f"default_hooks.logger.interval={log_interval}", f"log_processor.window_size={log_interval}"]


def launch_job(env: dict[str, str], *, data_root: Path, work_dir: Path, device: dict[str, Any], epochs: int,
               imgs_per_gpu: int, name: str, log_interval: int = 1, preset: str = PRESET,
               cfg_options: list[str] = ()) -> dict[str, Any]:
    args = ["launch", "--preset", preset, *device_args(device), "--seed", "0", "--data-root", str(data_root),
            "--imgs-per-gpu", str(imgs_per_gpu), "--force", "--json", "--name", name, "--work-dir", str(work_dir),
            "--cfg-options", *training_cfg_options(epochs, log_interval), *cfg_options]
    proc = frcnn(args, env)
    if proc.returncode != 0:
        raise RuntimeError(f"frcnn-tui launch failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout)


def _job_alive(job: dict[str, Any]) -> bool:
    try:
        proc = psutil.Process(job["pid"])
        return abs(proc.create_time() - job["create_time"]) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_job(job: dict[str, Any], env: dict[str, str], timeout: float) -> str:
    """Wait for a launched job to end, then ask `frcnn-tui jobs --json` for its status.

    While it runs only its pid is looked at (once a second): polling `frcnn-tui jobs --json`
    itself would start a Python process every few seconds and steal CPU from the very training
    being measured."""
    run_dir = Path(job["run_dir"])
    deadline = time.monotonic() + timeout
    # Until the job's script has ended, not only its training: launch.sh writes exit_status, then
    # waits for the job's sentinel (its last notifications), and the job is `running` till then.
    while _job_alive(job):
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job['id']} still running after {timeout:.0f} s ({run_dir})")
        time.sleep(1.0)
    proc = frcnn(["jobs", "--json"], env)
    if proc.returncode != 0:
        raise RuntimeError(f"frcnn-tui jobs failed: {proc.stderr.strip()}")
    for row in json.loads(proc.stdout)["jobs"]:
        if row["id"] == job["id"]:
            return row["status"]
    raise RuntimeError(f"job {job['id']} is not in `frcnn-tui jobs`")


def stop_job(job: dict[str, Any], env: dict[str, str]) -> None:
    if _job_alive(job):
        frcnn(["stop", job["id"], "--grace", "5"], env, timeout=60)


def train_rows(work_dir: Path) -> list[dict[str, Any]]:
    """Training lines of the newest run folder's scalars.json (MMEngine's own log)."""
    files = sorted(Path(work_dir).glob("*/vis_data/scalars.json"))
    if not files:
        return []
    rows = []
    for line in files[-1].read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if "loss" in row and "time" in row:
                rows.append(row)
    return rows


def throughput(work_dir: Path, skip: int, per_line: int = 1) -> dict[str, Any]:
    """Iterations per second after the first `skip` log lines (warmup), from MMEngine's
    `time` field: wall seconds per iteration, data loading included, averaged over the
    iterations since the previous line (window = logging interval), so n / sum(time)."""
    rows = train_rows(work_dir)
    kept = rows[skip:]
    if not kept:
        raise RuntimeError(f"{work_dir}: {len(rows)} training line(s), none left after skipping {skip}")
    total = sum(float(r["time"]) for r in kept)
    return {"its_per_s": len(kept) / total, "iters": len(kept) * per_line, "lines": len(kept), "skipped": skip,
            "logged": len(rows), "mean_iter_s": total / len(kept)}


# Lines that say why a worker died. torchrun's closing report (the tail) names only the signal
# ("Signal 6 (SIGABRT) received by PID ..."); the reason a C++ abort gives ("terminate called
# after throwing an instance of 'gloo::IoException'", "what(): ...") is printed by the worker
# itself, earlier in the same file, and was cut off when only the tail was kept.
_CAUSE_MARKERS = ("terminate called", "what():", "Error", "Exception", "Aborted", "Killed", "Traceback")


def explain(run_dir: Path) -> str:
    """Why a bench's job failed: its stderr's cause lines (first 20), then its last 1,500 chars."""
    for name in ("stderr.log", "stderr.txt"):
        path = Path(run_dir) / name
        if path.exists():
            text = path.read_text(errors="replace")
            causes = [line for line in text.splitlines() if any(m in line for m in _CAUSE_MARKERS)][:20]
            return ("cause lines:\n" + "\n".join(causes) + "\n--- tail:\n" if causes else "") + text[-1500:]
    return "(no stderr)"


def process_cpu_s(proc: psutil.Process) -> float:
    """CPU seconds of a process, its reaped children and its live descendants."""
    total = 0.0
    try:
        t = proc.cpu_times()
        total += t.user + t.system + getattr(t, "children_user", 0.0) + getattr(t, "children_system", 0.0)
        for child in proc.children(recursive=True):
            try:
                c = child.cpu_times()
                total += c.user + c.system
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(result, default=str))
    else:
        print("\n".join(lines))


def run_figure(figure: str, measure: Callable[[Any], dict[str, Any]], args: Any,
               describe: Callable[[dict[str, Any]], list[str]]) -> int:
    """A benchmark script's main: measure, then print the result (JSON or `describe`'s lines).
    A failure is one line (JSON with "error" under --json, which run_all reports) and exit 1;
    so is a result that carries its own "error"."""
    try:
        result = measure(args)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"figure": figure, "error": message}) if args.json else f"bench_{figure}: {message}")
        return 1
    emit(result, args.json, describe(result))
    return 1 if result.get("error") else 0


def add_training_run_args(parser: Any, epochs: int) -> None:
    """The options of the benchmarks that time real training runs in A/B pairs."""
    parser.add_argument("--quick", action="store_true", help="tiny dataset, one A/B pair (about 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, help="A/B pairs (default 5; quick 1)")
    parser.add_argument("--epochs", type=int, default=epochs, help=f"epochs per run (default {epochs})")
    parser.add_argument("--train", type=int, help="training images (default 96 on CPU; quick 16)")
    parser.add_argument("--size", type=int, help="image side in px (default 128 on CPU)")
    parser.add_argument("--imgs-per-gpu", type=int, help="batch per process (default 2 on CPU)")
    parser.add_argument("--skip", type=int, help="logged iterations treated as warmup (default 4; quick 1)")
    parser.add_argument("--log-interval", type=int, default=1,
                        help="MMEngine logging interval (= log window), the same in A and B (default 1: every "
                             "iteration; the demo-cpu preset's own is 5)")
    parser.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto")
    parser.add_argument("--gpus", type=int, help="GPUs for the GPU case (default: all visible)")
    parser.add_argument("--nproc", type=int, default=2, help="gloo workers for the CPU case")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per training run")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (run dirs, logs)")
