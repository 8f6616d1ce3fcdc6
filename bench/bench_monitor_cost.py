"""Does watching a job cost its training anything, and what does the TUI itself burn?

A: a job launched with `frcnn-tui launch` (the demo-cpu preset, tiny synthetic set) while
   frcnn-tui follows it twice over, as a user would: the TUI in a real terminal (tmux,
   120x40) with the job's monitor open (keys `j`, then `m` on the newest job, the one
   highlighted), and `frcnn-tui watch JOB` in a second tmux window.
B: the same launch with nothing watching.

Throughput is iterations per second from MMEngine's `time` field in scalars.json after
the warmup lines (A also skips every line written before its monitor was open). Runs
alternate A B A B ...; the figure is the median of the per-pair ratios A/B with min and
max. Goal: >= 0.99.

Also: the TUI's own CPU time per minute of monitoring (psutil: the TUI process, its
reaped children and live descendants, from the moment the monitor is open to the job's
end), and the same for `frcnn-tui watch`. Goal for the TUI: <= 0.6 CPU-s per minute
(1% of one core).

  .venv/bin/python bench/bench_monitor_cost.py [--quick] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (PY, ROOT, BenchHome, add_training_run_args, cpu_count, explain, fmt_summary, launch_job,  # noqa: E402
                     loadavg, make_dataset, pick_device, process_cpu_s, stop_job, summary, throughput, train_rows,
                     run_figure, wait_job)

GOAL_RATIO = 0.99
GOAL_TUI_CPU_S_PER_MIN = 0.6
COLS, ROWS = 120, 40


class Tmux:
    """A private tmux server (own socket): windows run commands, keys go in with send-keys."""

    def __init__(self, socket: Path, env: dict[str, str]) -> None:
        self.tmux = shutil.which("tmux")
        if not self.tmux:
            raise RuntimeError("tmux is not installed (needed to run the TUI in a terminal)")
        self.socket, self.env = socket, env
        self.session = "bench"
        self.started = False

    def __call__(self, *args: str) -> str:
        out = subprocess.run([self.tmux, "-S", str(self.socket), *args], capture_output=True, text=True,
                             timeout=20, env=self.env)
        if out.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {out.stderr.strip()}")
        return out.stdout

    def _env_flags(self, extra: dict[str, str]) -> list[str]:
        flags = []
        for key, value in extra.items():
            flags += ["-e", f"{key}={value}"]
        return flags

    def window(self, name: str, command: str, extra_env: dict[str, str]) -> psutil.Process:
        """Run `command` (through sh) in a new window; returns the pane's process (the sh)."""
        if not self.started:
            self("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-n", name, "-x", str(COLS),
                 "-y", str(ROWS), "-c", str(ROOT), *self._env_flags(extra_env), command)
            self.started = True
        else:
            self("new-window", "-d", "-t", self.session, "-n", name, "-c", str(ROOT), *self._env_flags(extra_env),
                 command)
        pid = int(self("display-message", "-p", "-t", f"{self.session}:{name}", "#{pane_pid}").strip())
        return psutil.Process(pid)

    def screen(self, name: str) -> str:
        return self("capture-pane", "-p", "-t", f"{self.session}:{name}")

    def keys(self, name: str, *keys: str) -> None:
        for key in keys:
            self("send-keys", "-t", f"{self.session}:{name}", key)
            time.sleep(0.2)

    def wait_for(self, name: str, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(name)
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise RuntimeError(f"{text!r} never showed up in the {name} window; it showed:\n{screen}")
            time.sleep(0.3)

    def kill(self) -> None:
        if self.started:
            subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], capture_output=True, timeout=20)
            self.started = False


def own_cpu_s(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


def _child_named(shell: psutil.Process, needle: str, timeout: float = 30) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in shell.children(recursive=True):
            try:
                if needle in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"no process running {needle!r} under pid {shell.pid}")


def monitored_run(home: BenchHome, job: dict, *, timeout: float, skip: int) -> dict:
    """Follow a just-launched job with the TUI (monitor open) and `watch`; returns the
    CPU figures and how many scalars lines were already written when the monitor opened."""
    tmux = Tmux(home.root / "tmux.sock", home.env)
    term = {"FRCNN_TUI_HOME": home.env["FRCNN_TUI_HOME"], "TERM": "xterm-256color", "COLUMNS": str(COLS),
            "LINES": str(ROWS)}
    cli = f"{shlex.quote(PY)} -m tui"
    try:
        started = time.monotonic()
        tui_shell = tmux.window("tui", f"sh -c '{cli}; echo TUI-EXITED $?; sleep 3600'", term)
        watch_shell = tmux.window("watch", f"sh -c '{cli} watch {job['id']}; echo WATCH-EXITED $?; sleep 3600'",
                                  term)
        tui = _child_named(tui_shell, "-m tui")
        server = psutil.Process(int(tmux("display-message", "-p", "#{pid}").strip()))
        tmux.wait_for("tui", "Presets", 120)
        tmux.keys("tui", "j")
        tmux.wait_for("tui", job["id"], 60)
        tmux.keys("tui", "m")
        tmux.wait_for("tui", "1 Loss", 60)
        opened_after = time.monotonic() - started
        lines_at_open = len(train_rows(Path(job["run_dir"])))
        tui0, watch0, term0, t0 = process_cpu_s(tui), process_cpu_s(watch_shell), own_cpu_s(server), time.monotonic()
        status = wait_job(job, home.env, timeout)
        tui1, watch1, term1, t1 = process_cpu_s(tui), process_cpu_s(watch_shell), own_cpu_s(server), time.monotonic()
        final_screen = tmux.screen("tui")
        minutes = (t1 - t0) / 60
        if status != "succeeded":
            raise RuntimeError(f"monitored job {job['id']} ended {status}: {explain(Path(job['run_dir']))}")
        tmux.keys("tui", "q")
        try:
            tmux.wait_for("tui", "TUI-EXITED", 30)
        except RuntimeError:
            pass
        return {"monitor_open_after_s": opened_after, "lines_at_open": lines_at_open,
                "monitored_minutes": minutes, "tui_cpu_s": tui1 - tui0, "watch_cpu_s": watch1 - watch0,
                "tui_cpu_s_per_min": (tui1 - tui0) / minutes, "watch_cpu_s_per_min": (watch1 - watch0) / minutes,
                "tmux_cpu_s_per_min": (term1 - term0) / minutes,
                # What the followers take from a machine whose cores training keeps busy.
                "followers_share": (tui1 - tui0 + watch1 - watch0 + term1 - term0) / (t1 - t0) / cpu_count(),
                "tui_cpu_s_to_open": tui0, "monitor_showed_job": job["id"] in final_screen,
                "skip": max(skip, lines_at_open)}
    finally:
        tmux.kill()


def measure(args: argparse.Namespace) -> dict:
    device = pick_device(args.device, args.gpus, args.nproc)
    sizes = dict(train=args.train or (16 if args.quick else 96), size=args.size or 128, imgs=args.imgs_per_gpu or 2)
    skip = args.skip if args.skip is not None else (1 if args.quick else 4)
    repeats = args.repeats or (1 if args.quick else 5)
    result: dict = {"figure": "monitor_cost", "goal": f"ratio >= {GOAL_RATIO}; TUI <= {GOAL_TUI_CPU_S_PER_MIN} "
                    "CPU-s/min", "device": device["kind"], "world_size": device["count"], "repeats": repeats,
                    "skip_iters": skip, "log_interval": args.log_interval, "dataset": sizes, "epochs": args.epochs,
                    "terminal": f"tmux {COLS}x{ROWS}",
                    "loadavg_start": loadavg()}
    with BenchHome("bench_monitor_", keep=args.keep) as home:
        data = make_dataset(home.root / "data", train=sizes["train"], val=4, size=sizes["size"])
        pairs = []
        for i in range(repeats):
            runs = {}
            for arm in ("watched", "plain"):
                job = launch_job(home.env, data_root=data, work_dir=home.root / f"{arm}-{i}", device=device,
                                 epochs=args.epochs, imgs_per_gpu=sizes["imgs"], log_interval=args.log_interval,
                                 name=f"bench-{arm}-{i}")
                try:
                    if arm == "watched":
                        mon = monitored_run(home, job, timeout=args.timeout, skip=skip)
                        runs[arm] = dict(throughput(Path(job["run_dir"]), mon["skip"], args.log_interval), **mon)
                    else:
                        status = wait_job(job, home.env, args.timeout)
                        if status != "succeeded":
                            raise RuntimeError(f"job {job['id']} ended {status}: {explain(Path(job['run_dir']))}")
                        runs[arm] = throughput(Path(job["run_dir"]), skip, args.log_interval)
                finally:
                    stop_job(job, home.env)
                for ckpt in Path(job["run_dir"]).glob("*.pth"):
                    ckpt.unlink(missing_ok=True)
            w, p = runs["watched"], runs["plain"]
            pairs.append({"watched": w, "plain": p, "ratio": w["its_per_s"] / p["its_per_s"], "loadavg": loadavg()})
            if not args.json:
                print(f"pair {i + 1}/{repeats}: watched {w['its_per_s']:.4f} it/s, plain {p['its_per_s']:.4f} it/s, "
                      f"ratio {pairs[-1]['ratio']:.3f}; TUI {w['tui_cpu_s_per_min']:.3f} CPU-s/min, "
                      f"watch {w['watch_cpu_s_per_min']:.3f}", file=sys.stderr)
    result["ratio"] = summary(p["ratio"] for p in pairs)
    result["watched_its_per_s"] = summary(p["watched"]["its_per_s"] for p in pairs)
    result["plain_its_per_s"] = summary(p["plain"]["its_per_s"] for p in pairs)
    result["tui_cpu_s_per_min"] = summary(p["watched"]["tui_cpu_s_per_min"] for p in pairs)
    result["tui_pct_core"] = summary(p["watched"]["tui_cpu_s_per_min"] / 60 * 100 for p in pairs)
    result["watch_cpu_s_per_min"] = summary(p["watched"]["watch_cpu_s_per_min"] for p in pairs)
    result["tmux_cpu_s_per_min"] = summary(p["watched"]["tmux_cpu_s_per_min"] for p in pairs)
    result["followers_share"] = summary(p["watched"]["followers_share"] for p in pairs)
    result["monitored_minutes"] = summary(p["watched"]["monitored_minutes"] for p in pairs)
    result["monitor_open_after_s"] = summary(p["watched"]["monitor_open_after_s"] for p in pairs)
    result["pairs"] = pairs
    result["met_ratio"] = result["ratio"]["median"] >= GOAL_RATIO
    result["met_tui_cpu"] = result["tui_cpu_s_per_min"]["median"] <= GOAL_TUI_CPU_S_PER_MIN
    result["met"] = result["met_ratio"] and result["met_tui_cpu"]
    result["loadavg_end"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Four epochs keep each watched run over a minute at the demo preset's ~4 it/s here, so the
    # per-minute CPU is steady-state monitoring, not the one-off cost of opening the monitor.
    add_training_run_args(parser, epochs=4)
    return run_figure("monitor_cost", measure, parser.parse_args(argv), lambda r: [
        f"monitor cost ({r['device']} x {r['world_size']}, {r['repeats']} pair(s), {r['terminal']})",
        f"  watched (TUI monitor + watch): {fmt_summary(r['watched_its_per_s'], '.4f')} it/s",
        f"  nothing watching:              {fmt_summary(r['plain_its_per_s'], '.4f')} it/s",
        f"  ratio: {fmt_summary(r['ratio'])}  goal >= {GOAL_RATIO}: {'met' if r['met_ratio'] else 'MISSED'}",
        f"  TUI CPU: {fmt_summary(r['tui_cpu_s_per_min'])} s/min  goal <= {GOAL_TUI_CPU_S_PER_MIN}: "
        f"{'met' if r['met_tui_cpu'] else 'MISSED'}",
        f"  watch CPU: {fmt_summary(r['watch_cpu_s_per_min'])} s/min",
    ])


if __name__ == "__main__":
    sys.exit(main())
