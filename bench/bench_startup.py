"""Does frcnn-tui start instantly? Two figures, each against a bare Textual hello-world
app on the same interpreter, run side by side (hello, frcnn-tui frame, --help, hello, ...):

* `frcnn-tui --help`: wall time from spawn to exit, divided by the hello-world's wall
  time from spawn to exit (it exits at its first frame);
* first frame: wall time from spawn until the first frame is composed, for the TUI
  (`tui.app.FrcnnApp`, reached the way `frcnn-tui` reaches it: the CLI's parser, then the
  app) divided by the same for the hello-world.

Both apps run headless (`App.run(headless=True)`, terminal size 120x40) with the same
hook: `App._display`, which Textual calls with each composed frame (headless it then
writes nothing), records `time.time()` (and the process's CPU seconds) at its first frame and exits.
Goals: --help <= 1.5x; first frame <= 1.2x (issue 16), judged on wall time, with the
CPU-seconds ratio beside it (fairer while other work shares the cores).

A third figure keeps work moved past the first frame in view: the populated Home, timed
at the first frame composed once the presets list has its rows (the Home lists them in
its first frame; a change that filled the list later would show here), divided by the
hello-world's first frame, under the same 1.2x goal (reported beside the first frame's;
`met` stays the first two goals).

Each child gets a private FRCNN_TUI_HOME, and no simulated GPUs.

  .venv/bin/python bench/bench_startup.py [--quick] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PY, ROOT, BenchHome, fmt_summary, loadavg, run_figure, summary  # noqa: E402

GOAL = 1.5  # --help
FRAME_GOAL = 1.2  # first frame (issue 16)

# The same hook in both children: the first non-empty frame handed to App._display.
_HOOK = """
import json, sys, time
T_START = time.time()
from textual.app import App

_FIRST = {}
_display = App._display
_READY = None  # the TUI's: has the populated Home been displayed? (the hello-world has nothing more)

def _first_frame(self, screen, renderable):
    _display(self, screen, renderable)
    if renderable is None:
        return
    if not _FIRST:
        # CPU seconds of the whole process so far (interpreter start included): on a
        # shared machine the wall time mostly measures the wait for a core.
        _FIRST.update(first_frame=time.time(), cpu=time.process_time(), screen=type(screen).__name__)
    elif _READY is None or "populated" in _FIRST:
        return
    if _READY is not None and "populated" not in _FIRST and _READY(screen):
        # A frame composed after the presets' rows were added (the first, if it has them):
        # the populated Home.
        _FIRST.update(populated=time.time(), populated_cpu=time.process_time())
    if _READY is None or "populated" in _FIRST:
        # Exit once the mounts already queued are done: exiting from inside a frame
        # would interrupt them and print a MountError.
        self.call_after_refresh(self.exit)

App._display = _first_frame
"""

HELLO = _HOOK + """
from textual.widgets import Static


class Hello(App):
    def compose(self):
        yield Static("Hello, world")


T_IMPORTED = time.time()
Hello().run(headless=True, size=(120, 40))
print(json.dumps(dict(_FIRST, start=T_START, imported=T_IMPORTED)))
"""

FRCNN = _HOOK + """
sys.path.insert(0, sys.argv[1])
import tui.entry, launcher.errors  # what `frcnn-tui` (tui/entry.py) imports before opening the TUI
from tui.app import FrcnnApp


def _READY(screen):
    # The first frame composed once the presets list has rows: the populated Home
    # (bench/findings.md "startup-first-frame").
    tables = screen.query("#presets")
    return bool(tables) and tables.first().option_count > 0


T_IMPORTED = time.time()
FrcnnApp().run(headless=True, size=(120, 40))
print(json.dumps(dict(_FIRST, start=T_START, imported=T_IMPORTED)))
"""


def frcnn_cli() -> list[str]:
    script = Path(PY).parent / "frcnn-tui"  # the console script a user types
    return [str(script)] if script.is_file() else [PY, "-m", "tui"]


def run_child(cmd: list[str], env: dict[str, str], *, frame: bool) -> dict:
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
                          stdin=subprocess.DEVNULL)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} exited {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    out = {"exit_s": wall}
    if frame:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if "first_frame" not in data:
            raise RuntimeError(f"no frame was composed: {proc.stdout[-500:]}")
        out.update(first_frame_s=data["first_frame"] - t0, interpreter_s=data["start"] - t0,
                   imports_s=data["imported"] - data["start"], mount_to_frame_s=data["first_frame"] - data["imported"],
                   first_frame_cpu_s=data["cpu"],
                   screen=data["screen"])
        if "populated" in data:
            out.update(populated_s=data["populated"] - t0, populated_cpu_s=data["populated_cpu"])
    return out


def measure(args: argparse.Namespace) -> dict:
    repeats = args.repeats or (3 if args.quick else 20)
    result: dict = {"figure": "startup", "goal": f"<= {GOAL}x", "repeats": repeats, "loadavg_start": loadavg(),
                    "help_command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(frcnn_cli())) +
                    " --help"}
    with BenchHome("bench_startup_") as home:
        # Both apps run from compiled bytecode, as installed packages do (pip compiles them):
        # Textual's is in site-packages already, and frcnn-tui's is written by the untimed
        # round. Under PYTHONDONTWRITEBYTECODE (set in some shells) every module edited since
        # its .pyc was last written was compiled again at every start, ~12 ms of CPU that a
        # user's second start never pays (bench/findings.md "startup-first-frame").
        env = {k: v for k, v in home.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        cmds = {"hello": ([PY, "-c", HELLO], True), "frcnn_frame": ([PY, "-c", FRCNN, str(ROOT)], True),
                "help": ([*frcnn_cli(), "--help"], False), "python": ([PY, "-c", "pass"], False)}
        # One untimed round: the first start of each also pays for a cold page cache (and
        # writes the bytecode and the presets' parse cache, as a user's first start does).
        for cmd, frame in cmds.values():
            run_child(cmd, env, frame=frame)
        rounds = []
        for _ in range(repeats):
            rounds.append({name: run_child(cmd, env, frame=frame) for name, (cmd, frame) in cmds.items()})
    result["help_ratio"] = summary(r["help"]["exit_s"] / r["hello"]["exit_s"] for r in rounds)
    result["first_frame_ratio"] = summary(r["frcnn_frame"]["first_frame_s"] / r["hello"]["first_frame_s"]
                                          for r in rounds)
    result["first_frame_cpu_ratio"] = summary(r["frcnn_frame"]["first_frame_cpu_s"] / r["hello"]["first_frame_cpu_s"]
                                              for r in rounds)
    # The populated Home (presets listed), against the hello-world's first frame: the same
    # goal, so that moving work past the first frame cannot hide it.
    result["populated_ratio"] = summary(r["frcnn_frame"]["populated_s"] / r["hello"]["first_frame_s"] for r in rounds)
    result["populated_cpu_ratio"] = summary(r["frcnn_frame"]["populated_cpu_s"] / r["hello"]["first_frame_cpu_s"]
                                            for r in rounds)
    result["frcnn_populated_s"] = summary(r["frcnn_frame"]["populated_s"] for r in rounds)
    result["frcnn_populated_cpu_s"] = summary(r["frcnn_frame"]["populated_cpu_s"] for r in rounds)
    result["hello_first_frame_cpu_s"] = summary(r["hello"]["first_frame_cpu_s"] for r in rounds)
    result["frcnn_first_frame_cpu_s"] = summary(r["frcnn_frame"]["first_frame_cpu_s"] for r in rounds)
    result["help_exit_s"] = summary(r["help"]["exit_s"] for r in rounds)
    result["hello_exit_s"] = summary(r["hello"]["exit_s"] for r in rounds)
    result["hello_first_frame_s"] = summary(r["hello"]["first_frame_s"] for r in rounds)
    result["frcnn_first_frame_s"] = summary(r["frcnn_frame"]["first_frame_s"] for r in rounds)
    result["python_exit_s"] = summary(r["python"]["exit_s"] for r in rounds)
    for name in ("hello", "frcnn_frame"):
        for part in ("interpreter_s", "imports_s", "mount_to_frame_s"):
            result[f"{name}_{part}"] = summary(r[name][part] for r in rounds)
    result["frcnn_first_screen"] = rounds[0]["frcnn_frame"]["screen"]
    result["met_help"] = result["help_ratio"]["median"] <= GOAL
    result["met_first_frame"] = result["first_frame_ratio"]["median"] <= FRAME_GOAL
    result["met_first_frame_cpu"] = result["first_frame_cpu_ratio"]["median"] <= FRAME_GOAL
    result["met_populated"] = result["populated_ratio"]["median"] <= FRAME_GOAL
    result["met_populated_cpu"] = result["populated_cpu_ratio"]["median"] <= FRAME_GOAL
    result["met"] = result["met_help"] and result["met_first_frame"]
    result["loadavg_end"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, help="rounds (default 20; quick 3)")
    return run_figure("startup", measure, parser.parse_args(argv), lambda r: [
        f"startup ({r['repeats']} rounds, each against a Textual hello-world in the same round)",
        f"  {r['help_command']}: {fmt_summary(r['help_exit_s'])} s to exit; hello-world "
        f"{fmt_summary(r['hello_exit_s'])} s; ratio {fmt_summary(r['help_ratio'], '.2f')}x: "
        f"{'met' if r['met_help'] else 'MISSED'}",
        f"  first frame: frcnn-tui {fmt_summary(r['frcnn_first_frame_s'])} s, hello-world "
        f"{fmt_summary(r['hello_first_frame_s'])} s; ratio {fmt_summary(r['first_frame_ratio'], '.2f')}x: "
        f"{'met' if r['met_first_frame'] else 'MISSED'}",
        f"  first frame, CPU s: frcnn-tui {fmt_summary(r['frcnn_first_frame_cpu_s'])}, hello-world "
        f"{fmt_summary(r['hello_first_frame_cpu_s'])}; ratio {fmt_summary(r['first_frame_cpu_ratio'], '.2f')}x: "
        f"{'met' if r['met_first_frame_cpu'] else 'MISSED'}",
        f"  populated Home (presets listed): frcnn-tui {fmt_summary(r['frcnn_populated_s'])} s, CPU s "
        f"{fmt_summary(r['frcnn_populated_cpu_s'])}; ratio to the hello-world's first frame "
        f"{fmt_summary(r['populated_ratio'], '.2f')}x, CPU {fmt_summary(r['populated_cpu_ratio'], '.2f')}x "
        f"(same goal): {'met' if r['met_populated'] else 'MISSED'}",
        f"  (bare `python -c pass`: {fmt_summary(r['python_exit_s'])} s)",
    ])


if __name__ == "__main__":
    sys.exit(main())
