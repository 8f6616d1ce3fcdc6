"""Bytes the TUI sends to its terminal (what an SSH link carries), per screen, against `top -d 1`.

Each case runs the real program (`python -m tui`) in its own pseudo-terminal (100x30,
TERM=xterm-256color) over a private registry, opens its screen with the key a user presses,
lets it settle, then counts every byte the program writes during a window of --window
seconds. `top -d 1` runs in a pty of the same size through the whole run, and its bytes in
the same window are the yardstick: a ratio to it says how heavy a screen is on the link
whatever the machine.

Cases: Home (nothing changing); Jobs with no job; Jobs with one running job whose work dir
grows by a scalars line every 2 s (the demo's log rate; a new epoch every 60 s); Jobs with
1,000 finished jobs and that running one (bench_job_registry's registry); the Monitor following
that running job (Jobs, then Enter on its row: the newest first).

  .venv/bin/python bench/bench_tui_bytes.py [--quick] [--json] [--window S] [--root CHECKOUT] [--cases A,B]

--root runs the TUI of another checkout of frcnn-tui (say a `git worktree` of an older
commit) with this venv, for a before/after in the same conditions.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, BenchHome, loadavg, run_figure  # noqa: E402
from bench_job_registry import make_registry  # noqa: E402

SIZE = (100, 30)  # columns, rows
STAMP = "20261128_231000"  # the recorded work dir's timestamp folder (tests/data/run_2epochs)
# Per case: KB/min goal (issue 28), and every screen at most 0.2x top -d 1.
GOALS_KB = {"home": 0.0, "jobs_empty": 0.0, "jobs_one_running": 10.0, "monitor_one_running": 30.0}
GOAL_TOP_RATIO = 0.2


class PtyProgram:
    """A program in its own pty; a thread counts what it writes, with the time of each read."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its terminal, sized before the program looks
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
            if cwd is not None:
                os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd = pid, fd
        self.reads: list[tuple[float, int]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            self.reads.append((time.monotonic(), len(data)))

    def bytes_between(self, t0: float, t1: float) -> int:
        return sum(n for t, n in list(self.reads) if t0 <= t < t1)

    def settle(self, most: float, quiet: float | None) -> None:
        """Wait MOST seconds; with QUIET, only until the program has drawn and then written
        nothing for QUIET seconds (the quick run's way past the first frame: a fixed wait is
        mostly idle time there)."""
        start = time.monotonic()
        while time.monotonic() - start < most:
            time.sleep(0.1)
            last = self.reads[-1][0] if self.reads else None
            if quiet is not None and last is not None and last > start and time.monotonic() - last >= quiet:
                return

    def press(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self) -> None:
        for sig in (15, 9):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        os.close(self.fd)


def appender(run_dir: Path, stop: threading.Event) -> None:
    """The running job's log: a train line every 2 s, 30 to an epoch (as MMEngine's LoggerHook writes)."""
    scalars = run_dir / STAMP / "vis_data" / "scalars.json"
    step = 0
    while not stop.wait(2.0):
        step += 1
        record = {"lr": 0.02, "data_time": 0.01, "loss": 1.0 / (1 + step / 100), "time": 0.5,
                  "epoch": 3 + step // 30, "iter": step % 30 + 1, "memory": 812, "step": 200 + step}
        with open(scalars, "a") as fh:
            fh.write(json.dumps(record) + "\n")


def run_case(name: str, finished: int, running: bool, keys: tuple[bytes, ...], settle: float, window: float,
             top: PtyProgram, root: Path, quiet: float | None = None) -> dict:
    with BenchHome(f"bench_tui_bytes_{name}_") as home:
        live = make_registry(home, finished, running) if finished or running else None
        stop = threading.Event()
        if live is not None:
            from launcher import paths

            live_dir = paths.runs_dir() / "20261207-000000-live"
            threading.Thread(target=appender, args=(live_dir, stop), daemon=True).start()
        env = dict(home.env, TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
        if root != ROOT:
            env["PYTHONPATH"] = str(root)  # ahead of the editable install's path finder
        tui = PtyProgram([PY, "-m", "tui"], env, cwd=root)
        try:
            tui.settle(settle, quiet)  # the first frame and the GPU probe
            for key in keys:
                tui.press(key)
                tui.settle(settle, quiet)  # the screen and its first rows
            t0 = time.monotonic()
            time.sleep(window)
            t1 = time.monotonic()
            tui_bytes, top_bytes = tui.bytes_between(t0, t1), top.bytes_between(t0, t1)
            drawn = tui.bytes_between(0.0, t0)  # the first frame and the screen: it did draw
            alive = os.waitpid(tui.pid, os.WNOHANG) == (0, 0)
        finally:
            stop.set()
            tui.close()
            if live is not None:
                live.kill()
                live.wait()
    kb_min = tui_bytes / window * 60 / 1000
    out = {"bytes": tui_bytes, "kb_per_min": kb_min, "top_bytes": top_bytes, "drawn_before_window": drawn,
           "top_kb_per_min": top_bytes / window * 60 / 1000,
           "ratio_to_top": tui_bytes / top_bytes if top_bytes else None, "tui_alive": alive}
    goal = GOALS_KB.get(name)
    out["met"] = alive and drawn > 0 and (goal is None or kb_min <= goal) and (out["ratio_to_top"] or 0) <= GOAL_TOP_RATIO
    return out


def measure(args: argparse.Namespace) -> dict:
    window = args.window or (10.0 if args.quick else 60.0)
    settle = 6.0 if args.quick else 10.0
    cases = [("home", 0, False, ()), ("jobs_empty", 0, False, (b"j",)), ("jobs_one_running", 0, True, (b"j",)),
             ("jobs_1000_finished_one_running", 200 if args.quick else 1000, True, (b"j",)),
             ("monitor_one_running", 0, True, (b"j", b"\r"))]
    result: dict = {"figure": "tui_bytes", "window_s": window, "root": str(args.root), "size": list(SIZE), "goals_kb_per_min": GOALS_KB,
                    "goal_top_ratio": GOAL_TOP_RATIO, "loadavg_start": loadavg(), "cases": {}}
    top = PtyProgram(["top", "-d", "1"], dict(os.environ, TERM="xterm-256color"))
    try:
        for name, finished, running, keys in cases:
            if args.cases and name not in args.cases.split(","):
                continue
            result["cases"][name] = run_case(name, finished, running, keys, settle, window, top, args.root,
                                             quiet=1.5 if args.quick else None)
    finally:
        top.close()
    result["met"] = all(c["met"] for c in result["cases"].values())
    result["loadavg_end"] = loadavg()
    return result


def describe(r: dict) -> list[str]:
    lines = [f"bytes to the terminal ({r['size'][0]}x{r['size'][1]} pty), {r['window_s']:.0f} s windows, "
             f"against top -d 1 in the same window; the TUI of {r['root']}"]
    for name, c in r["cases"].items():
        ratio = "n/a" if c["ratio_to_top"] is None else f"{c['ratio_to_top']:.3f}"
        lines.append(f"  {name}: {c['kb_per_min']:.1f} KB/min ({c['bytes']} B); top -d 1 {c['top_kb_per_min']:.1f} "
                     f"KB/min; ratio {ratio}: {'met' if c['met'] else 'MISSED'}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s windows, 200 finished jobs, each screen settled once it is quiet for 1.5 s (at most 6 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--window", type=float, help="seconds per measured window (default 60)")
    parser.add_argument("--cases", help="only these cases, comma separated (default: all)")
    parser.add_argument("--root", type=lambda p: Path(p).resolve(), default=ROOT,
                        help="the checkout whose TUI runs (default: this one)")
    return run_figure("tui_bytes", measure, parser.parse_args(argv), describe)


if __name__ == "__main__":
    sys.exit(main())
