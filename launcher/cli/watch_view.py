"""``frcnn-tui watch``: a headless live view of one job's work dir (rich, no Textual).

Works on a running job, a finished one, or any MMEngine work dir. It only reads
files; stopping the watch (Ctrl-C) never touches the job.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from launcher.errors import UserError
from launcher.monitor import reference_compare
from launcher.monitor.values import is_loss_key
from launcher.monitor.metrics import RUNNING_STATES
from launcher.monitor.run_follower import RunFollower
from launcher.sentinel import report as sentinel_report

__all__ = ["render", "run_watch", "snapshot_json"]

GPU_PERIOD_S = 2.0
WATCH_EVENTS = 50  # the sentinel's newest events in a snapshot
_GPU_FIELDS = ("index", "name", "uuid", "pci_bus_id", "memory_total_mib", "memory_used_mib",
               "memory_free_mib", "utilization_pct", "temperature_c", "error")


class _GpuPoller:
    """The job's GPUs from launcher.hardware.gpu_probe, at most every GPU_PERIOD_S; nothing when
    that module is missing or fails, since GPU rows are a nicety here."""

    def __init__(self, indices: list[int] | None) -> None:
        self._indices = set(indices or ())
        self._enabled = bool(self._indices)
        self._next = 0.0
        self.rows: list[dict] = []

    def refresh(self, now: float) -> bool:
        if not self._enabled or now < self._next:
            return False
        self._next = now + GPU_PERIOD_S
        from launcher.hardware import gpu_probe  # lazy: a watch without GPUs never pays for NVML

        try:
            inventory = gpu_probe.probe()
            gpus = [] if getattr(inventory, "error", None) else list(inventory.gpus)
            rows = [self._row(g) for g in gpus if getattr(g, "index", None) in self._indices]
        except Exception:  # a flaky driver must not take the watch down
            rows = []
        changed = rows != self.rows
        self.rows = rows
        return changed

    @staticmethod
    def _row(gpu: object) -> dict:
        row = {f: getattr(gpu, f, None) for f in _GPU_FIELDS}
        processes = getattr(gpu, "processes", None)
        row["process_count"] = len(processes) if isinstance(processes, (list, tuple)) else None
        return {k: (v if isinstance(v, (int, float, str, type(None))) else str(v)) for k, v in row.items()}


def _safe_json(obj: object) -> object:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _safe_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_safe_json(v) for v in obj]
    return obj


def snapshot_json(snapshot: dict) -> str:
    """One line of strict JSON (no NaN/Infinity tokens)."""
    try:
        return json.dumps(snapshot, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(_safe_json(snapshot), allow_nan=False, default=str)


def _job_status(job_status: Callable[[], str] | None) -> str | None:
    if job_status is None:
        return None
    try:
        status = job_status()
    except Exception:  # the registry may be mid-write; ask again next poll
        return None
    return str(status) if status else None


def run_watch(work_dir: Path, *, once: bool, as_json: bool, reference_ap: float | None = None,
              max_epochs: int | None = None, gpu_indices: list[int] | None = None,
              job_status: Callable[[], str] | None = None, interval: float = 1.0,
              series: bool = False, reference=None, target: dict | None = None) -> int:
    """Shows the job's metrics; returns the exit code (0, also on Ctrl-C).

    ``once``: one snapshot of everything on disk, then exit. ``as_json``: the
    snapshot as one JSON object (live: one object per line, at each change).
    ``job_status``: returns "running" (or one of RUNNING_STATES) while the job is
    alive; any other value prints the final view and returns 0. ``reference``: a
    ``ReferenceTracker`` (launcher.monitor.reference_compare) that adds the comparison;
    without one, ``target`` (reference_compare.preset_target): the preset's final AP.
    """
    work_dir = Path(work_dir).expanduser()
    if not work_dir.is_dir():
        raise UserError(f"work dir not found: {work_dir}")
    follower = RunFollower(work_dir, max_epochs=max_epochs, reference_ap=reference_ap, series=series,
                           compare=True, reference=reference, target=target)
    gpus = _GpuPoller(gpu_indices)
    interval = max(0.05, float(interval))

    def snap(status: str | None) -> dict:
        s = follower.snapshot(status)
        s["work_dir"] = str(work_dir)
        s["gpus"] = gpus.rows
        s.update(sentinel_report.fields(work_dir, status or "", limit=WATCH_EVENTS))  # events, sentinel, notify
        return s

    try:
        if once:
            follower.catch_up()
            gpus.refresh(time.monotonic())
            _show(None, snap(_job_status(job_status)), as_json)
            return 0
        return _live(follower, gpus, snap, job_status, interval, as_json)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        _silence_stdout()  # piped into head: the reader left, which is not an error
        return 0


def _silence_stdout() -> None:
    # The recipe from the signal module docs: without it, the flush at exit raises again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class _QuitKey:
    """q typed in the terminal ends a live view, as in top or less (ctrl+c still does too).

    While the view runs, a terminal on stdin is put in cbreak mode (keys arrive one by one,
    not echoed; ISIG stays on, so ctrl+c is still SIGINT) and restored after. Without a
    terminal (piped, --json into a script) there is no key to read: only ctrl+c ends it.
    """

    def __init__(self) -> None:
        self._fd: int | None = None
        self._saved: list | None = None
        try:
            import termios
            import tty

            fd = sys.stdin.fileno()
            # Only in the terminal's foreground: a background watch (`watch JOB &`) that set the
            # terminal's mode would be stopped by SIGTTOU.
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                self._saved = termios.tcgetattr(fd)
                tty.setcbreak(fd)
                self._fd = fd
        except Exception:  # termios.error too: no key then, ctrl+c still ends the watch
            self._fd = None

    @property
    def hint(self) -> str:
        return ("q or ctrl+c ends the watch; the job keeps running" if self._fd is not None else
                "ctrl+c ends the watch; the job keeps running")

    def wait(self, seconds: float) -> bool:
        """Sleeps up to ``seconds``; True as soon as q (or Q) is typed."""
        if self._fd is None:
            time.sleep(seconds)
            return False
        import select

        deadline = time.monotonic() + seconds
        while True:
            ready, _, _ = select.select([self._fd], [], [], max(0.0, deadline - time.monotonic()))
            if ready:
                try:
                    typed = os.read(self._fd, 64)
                except OSError:
                    typed = b""
                if b"q" in typed.lower():
                    return True
                if not typed:  # the terminal went away: sleep out the rest
                    time.sleep(max(0.0, deadline - time.monotonic()))
                    return False
            if time.monotonic() >= deadline:
                return False

    def restore(self) -> None:
        if self._fd is not None:
            import termios

            try:
                termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            except (OSError, termios.error):
                pass


def _live(follower, gpus, snap, job_status, interval, as_json) -> int:
    """Polls until the job ends, q (in a terminal) or Ctrl-C; sleeps between polls and redraws
    only on change."""
    live = None
    keys = _QuitKey() if not as_json else None
    if not as_json:
        from rich.console import Console
        from rich.live import Live

        live = Live(console=Console(), auto_refresh=False, redirect_stdout=False,
                    redirect_stderr=False)
        live.start()
    try:
        first = True
        while True:
            changed = follower.poll()
            changed |= gpus.refresh(time.monotonic())
            status = _job_status(job_status)
            changed |= follower.stall_changed(status)
            ended = status is not None and status.lower() not in RUNNING_STATES
            if ended:
                follower.catch_up()  # the last lines may land just before exit
            if changed or ended or first:
                _show(live, snap(status), as_json, hint=None if ended or keys is None else keys.hint)
                first = False
            if ended:
                return 0
            wait = 0.0 if follower.backlog_bytes else interval
            if keys is not None and keys.wait(wait):
                return 0
            if keys is None and wait:
                time.sleep(wait)
    finally:
        if live is not None:
            live.stop()
        if keys is not None:
            keys.restore()


def _show(live, snapshot: dict, as_json: bool, hint: str | None = None) -> None:
    if as_json:
        sys.stdout.write(snapshot_json(snapshot) + "\n")
        sys.stdout.flush()
    elif live is not None:
        from rich.console import Group
        from rich.text import Text

        view = render(snapshot)
        live.update(Group(view, Text(hint, "dim")) if hint else view, refresh=True)
    else:
        from rich.console import Console

        Console().print(render(snapshot))


# -- rendering ----------------------------------------------------------------

def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{h}:{m:02d}:{s:02d}"


def _num(v: object, fmt: str = ".4f") -> str:
    if isinstance(v, bool) or v is None:
        return "-"
    if isinstance(v, (int, float)):
        return format(v, fmt)
    return str(v)


def _latest_cells(latest: dict) -> list[tuple[str, str]]:
    # The file's own order (loss first, then the components) reads like the text log.
    losses = sorted((k for k in latest if is_loss_key(k)), key=lambda k: k != "loss")
    cells = [(k, _num(latest[k])) for k in losses]
    if "acc" in latest:
        cells.append(("acc", _num(latest["acc"], ".2f")))
    for key in ("lr", "base_lr"):
        if key in latest:
            cells.append((key, _num(latest[key], ".3e")))
    for key in ("time", "data_time"):
        if key in latest:
            cells.append((key, _num(latest[key], ".3f") + "s"))
    if "memory" in latest:
        cells.append(("memory", f"{_num(latest['memory'], '.0f')} MiB"))
    return cells


def render(snapshot: dict):
    """A rich renderable of a snapshot (also usable inside a Textual Static)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    parts = []
    status = snapshot.get("status") or "?"
    style = {"running": "green", "finished": "bold green", "failed": "bold red"}.get(status, "yellow")
    head = Text.assemble(("watch ", "bold"), (snapshot.get("work_dir") or "", "cyan"), "  ",
                         (status, style))
    if snapshot.get("last_write"):
        head.append(f"  last write {datetime.fromtimestamp(snapshot['last_write']):%H:%M:%S}", "dim")
    parts.append(head)

    p = snapshot.get("progress") or {}
    bar = Table.grid(padding=(0, 1))
    fraction = p.get("fraction")
    bar.add_row(ProgressBar(total=1.0, completed=fraction or 0.0, width=40),
                Text(f"{fraction * 100:5.1f}%" if fraction is not None else "  ?  %"))
    parts.append(bar)
    pieces = [f"epoch {_num(p.get('epoch'), 'd')}/{_num(p.get('max_epochs'), 'd')}",
              f"iter {_num(p.get('iter_in_epoch'), 'd')}/{_num(p.get('iters_per_epoch'), 'd')}",
              f"global {_num(p.get('global_iter'), 'd')}/{_num(p.get('total_iters'), 'd')}",
              f"ETA {_duration(snapshot.get('eta_s'))}"
              + (f" ({snapshot['eta_source']})" if snapshot.get("eta_source") else "")]
    parts.append(Text("  ".join(pieces)))
    if snapshot.get("history_line"):  # a stop the user asked for is history, not an error
        parts.append(Text(f"history: {snapshot['history_line']}", "dim"))
    if snapshot.get("catching_up"):
        parts.append(Text(f"reading history, {snapshot['backlog_bytes'] / 2**20:.1f} MiB left", "yellow"))

    cells = _latest_cells(snapshot.get("latest") or {})
    if cells:
        grid = Table.grid(padding=(0, 2))
        row = [Text.assemble((k + " ", "dim"), v) for k, v in cells]
        for i in range(0, len(row), 4):
            grid.add_row(*row[i:i + 4])
        parts.append(Panel(grid, title="latest", title_align="left"))

    parts.extend(_render_map(snapshot))
    for alert in snapshot.get("alerts") or []:
        parts.append(Text(f"! {alert.get('kind')}: {alert.get('message')}", "bold red"))
    for event in (snapshot.get("events") or [])[-3:]:  # the sentinel's, newest last
        parts.append(Text(f"event {event.get('kind')}: {event.get('text')}", "magenta"))
    failed = snapshot.get("rank_failure")
    if failed and failed.get("traceback"):
        lines = failed["traceback"].splitlines()
        parts.append(Panel(Text("\n".join(lines[-15:])), title=f"rank {failed.get('rank')} failed first",
                           border_style="red", title_align="left"))
    errors = snapshot.get("errors") or {}
    if errors.get("first_error_line"):
        parts.append(Text(f"first error: {errors['first_error_line']}", "red"))
    if errors.get("traceback"):
        lines = errors["traceback"].splitlines()
        parts.append(Panel(Text("\n".join(lines[-15:])), title="traceback", border_style="red",
                           title_align="left"))
    if snapshot.get("lr_scaling_line"):
        parts.append(Text(snapshot["lr_scaling_line"], "dim", no_wrap=True, overflow="ellipsis"))
    if snapshot.get("coco_table"):
        # pycocotools' fixed-width table is unreadable once wrapped.
        parts.append(Text("\n".join(snapshot["coco_table"]), "dim", no_wrap=True, overflow="ellipsis"))
    gpus = snapshot.get("gpus") or []
    if gpus:
        table = Table("gpu", "name", "util", "memory", "temp", box=None, header_style="dim")
        for g in gpus:
            if g.get("error"):
                table.add_row(_num(g.get("index"), "d"), Text(g["error"], "red"))
                continue
            table.add_row(_num(g.get("index"), "d"), g.get("name") or "-",
                          f"{_num(g.get('utilization_pct'), '.0f')}%",
                          f"{_num(g.get('memory_used_mib'), '.0f')}/{_num(g.get('memory_total_mib'), '.0f')} MiB",
                          f"{_num(g.get('temperature_c'), '.0f')}C")
        parts.append(table)
    if snapshot.get("bad_lines"):
        parts.append(Text(f"{snapshot['bad_lines']} unparsable scalars.json line(s) skipped", "yellow"))
    return Group(*parts)


def _render_map(snapshot: dict) -> list:
    from rich.table import Table
    from rich.text import Text

    rows = snapshot.get("map_by_epoch") or []
    best = snapshot.get("best")
    out = []
    if rows:
        metric = (best or {}).get("metric") or "bbox_mAP"
        extra = [k for k in ("bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l")
                 if any(k in r for r in rows)]
        table = Table("epoch", metric, *[k.replace("bbox_mAP_", "AP") for k in extra],
                      box=None, header_style="dim")
        for r in rows[-12:]:
            is_best = best is not None and r.get("epoch") == best.get("epoch")
            table.add_row(str(r.get("epoch")), *[_num(r.get(k), ".3f") for k in (metric, *extra)],
                          style="bold green" if is_best else None)
        out.append(table)
    if best:
        line = f"best {best['value']:.3f} ({best['percent']:.1f}%) at epoch {best['epoch']}"
        if best.get("checkpoint"):
            line += f"  {best['checkpoint']}"
        out.append(Text(line, "green"))
    if snapshot.get("target"):  # no reference run: the preset's AP, at the end of its schedule only
        out.append(Text(reference_compare.target_text(snapshot["target"]), "dim"))
    ref = snapshot.get("reference")
    if ref and ref.get("epoch") is not None:
        line = f"epoch {ref['epoch']}: {_num(ref.get('run'), '.3f')} vs reference {ref['name']} "
        if ref.get("reference") is None:
            line += "(no value at this epoch)"
        else:
            line += f"{_num(ref['reference'], '.3f')} ({ref['delta']:+.3f}, noise {ref['noise']:g})"
        out.append(Text(line, "bold red" if ref.get("behind") else "green"))
    return out
