"""What the Monitor says in words, from a job's record and its metrics snapshot: the summary
lines, the alert banner, the best-mAP note and the errors box.

Pure functions (no widgets), so MonitorScreen only decides when to redraw and where.
A new alert kind gets its banner title in BANNER_TITLES (and a place in URGENT if it
says what to do now).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from textual.content import Content

from launcher.jobs import backends, status_words
from launcher.monitor import per_class
from launcher.monitor.reference_compare import target_text
from tui.format import ago_minutes, duration, number, status_markup

BANNER_TITLES = {"rank_failed": "Rank failed", "stalled": "Stalled", "nonfinite_loss": "NaN / inf loss",
                 "divergence": "Loss diverging", "behind-reference": "Behind the reference",
                 "lr-after-resume": "lr after resume"}
URGENT = ("nonfinite_loss", "rank_failed", "stalled")
RANK_TRACEBACK_LINES = 8


def summary(r: Any, snap: dict, now: float) -> tuple:
    """(status, started, progress text, fraction done, ETA text, devices): everything the
    summary and progress row show, comparable to skip a redraw when nothing changed."""
    status = snap.get("status") or "…"
    started = ago_minutes(r.started_at, now)  # ticks once a minute: each change is bytes over SSH
    prog = snap.get("progress") or {}
    bits = []
    if prog.get("epoch") is not None:
        bits.append(f"epoch {prog['epoch']}/{prog.get('max_epochs') or '?'}")
    if prog.get("iter_in_epoch") is not None and prog.get("iters_per_epoch"):
        bits.append(f"iter {prog['iter_in_epoch']}/{prog['iters_per_epoch']}")
    latest = snap.get("latest") or {}
    if "loss" in latest:
        bits.append(f"loss {number(latest['loss'])}")
    if "lr" in latest:
        bits.append(f"lr {number(latest['lr'])}")
    best = snap.get("best")
    rc = snap.get("reference") or {}
    if rc.get("reference") is not None:
        # The run against its reference at the same epoch: on track or not, from epoch 1.
        bits.append(f"ep {rc['epoch']} mAP {100 * rc['run']:.1f} vs {rc['name']} {100 * rc['reference']:.1f} "
                    f"({100 * rc['delta']:+.1f}{', behind' if rc.get('behind') else ''})")
    elif best:
        # The preset's AP is the end of its schedule's: a target, not an epoch-1 delta.
        bits.append(f"best mAP {best['percent']:.1f} (ep {best['epoch']})"
                    + (f" · {target_text(snap['target'], short=True)}" if snap.get("target") else ""))
    elif snap.get("target"):
        bits.append(target_text(snap["target"]))
    if snap.get("history_line"):  # a stop the user asked for is history, not an error
        bits.append(snap["history_line"])
    if snap.get("events"):  # the sentinel's newest event (every event is also a toast)
        bits.append(f"last event: {snap['events'][-1]['kind']}")
    if snap.get("sentinel_gone"):
        bits.append("[bold $warning]sentinel gone: no events or notifications[/]")
    if snap.get("catching_up"):
        bits.append("reading history…")
    text = " · ".join(bits) or "waiting for the first log line…"
    eta = snap.get("eta_s")
    eta_text = "done" if snap.get("eta_source") == "finished" else (
        f"ETA {duration(eta)}" if eta is not None else "ETA ?")
    idle = snap.get("idle_s")
    if status == status_words.RUNNING and idle is not None and idle > 300:
        eta_text += f" · [bold $warning]no log for {duration(idle)}[/]"
    # The devices, and for SLURM its id, state (pending reason) and restarts: the watcher's details.
    devices = backends.backend_for(r).placement(r, snap.get("slurm"))
    return status, started, text, prog.get("fraction"), eta_text, devices


def summary_content(r: Any, status: str, started: str, text: str, devices: str) -> Content:
    nodes = f" × {r.nodes} nodes" if r.nodes > 1 else ""
    name = f" ({r.name})" if r.name != r.preset else ""
    line1 = Content.from_markup(
        "[b]$id[/]$name · $preset · ", id=r.id, name=name, preset=r.preset,
    ) + Content.from_markup(status_markup(status)) + Content.from_markup(
        " · $dev$nodes · $ago", dev=devices, nodes=nodes, ago=started)
    return Content("\n").join([line1, Content(text)])


def banner(alerts: list[dict]) -> Content | None:
    """The one alert the banner shows (None: no banner): a NaN, a failed rank or a stall says
    what to do now; the others can wait."""
    alerts = [a for a in alerts if a.get("kind") in BANNER_TITLES]
    if not alerts:
        return None
    urgent = sorted((URGENT.index(a["kind"]), i) for i, a in enumerate(alerts) if a["kind"] in URGENT)
    alert = alerts[urgent[0][1]] if urgent else alerts[-1]
    title = BANNER_TITLES[alert["kind"]]
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return Content.from_markup("[b]⚠ $t:[/] $m$more", t=title, m=alert["message"], more=more)


def best_note(snap: dict) -> Content | str:
    """Under the mAP table: the best epoch, against the reference run or the preset's target."""
    best = snap.get("best") or {}
    rc = snap.get("reference") or {}
    if best and rc.get("reference") is not None:
        # A reference run: the same epoch is what says whether the run is on track.
        status = "warn" if rc.get("behind") else "pass"
        text = (f"best {best['percent']:.1f} at epoch {best['epoch']}\n{rc['name']} at epoch {rc['epoch']}: "
                f"{100 * rc['reference']:.1f} " + status_markup(status, f"{100 * rc['delta']:+.1f}"))
        if rc.get("final") is not None:
            text += f"\n{rc['name']} final: {100 * rc['final']:.1f}"
        return Content.from_markup(text)
    target = snap.get("target")
    if best:
        text = f"best {best['percent']:.1f} at epoch {best['epoch']}"
        if target:
            text += "\n" + target_text(dict(target, delta=None))
            if target.get("delta") is not None:  # the run has reached the target's epoch
                status = "pass" if target["delta"] >= -0.5 else "warn"
                text += " " + status_markup(status, f"{target['delta']:+.1f}")
        return Content.from_markup(text)
    return target_text(target) if target else ""


def errors_box(errors: dict, failed: dict | None = None) -> Content | None:
    """Above the log: the failed rank, the first error line, how the traceback ends (None: no errors)."""
    tb = errors.get("last_traceback") or errors.get("traceback")
    first = errors.get("first_error_line")
    if not tb and not first and not failed:
        return None
    parts = []
    if failed:  # the rank that failed first, with its own traceback (not whichever rank printed last)
        own = (failed.get("traceback") or "").splitlines()[-RANK_TRACEBACK_LINES:]
        parts.append(Content.from_markup("[b]$s[/]", s=failed["summary"]))
        parts.extend(Content("  " + line) for line in own)
    if first:
        parts.append(Content.from_markup("[b]first error[/] ($src): $l", src=errors.get("first_error_source") or "?",
                                         l=first))
    if tb:
        tail = tb.splitlines()[-1]
        parts.append(Content.from_markup("[b]traceback[/] ends: $l", l=tail))
    count = errors.get("error_count") or 0
    if count > 1:
        parts.append(Content(f"{count} error lines in all; they are highlighted below"))
    return Content("\n").join(parts)


PER_CLASS_LINES = 10  # the weakest classes fit under the mAP table at 80x24; the rest are counted


def per_class_note(snap: dict) -> Content | None:
    """Under the mAP table: per-class AP at the latest evaluation, weakest first, and how each moved
    since the evaluation before (CocoMetric classwise=True, which `--data` turns on). None without any."""
    moved = per_class.moves(snap.get("map_by_epoch") or [])
    if moved is None:
        return None
    lines = [f"per-class AP, epoch {moved['epoch']} (weakest first)"]
    for row in moved["classes"][:PER_CLASS_LINES]:
        ap_text = f"{100 * row['ap']:5.1f}" if row["ap"] is not None else "    –"
        change = f" {100 * row['change']:+5.1f}" if row["change"] is not None else ""
        lines.append(f"  {row['name'][:28]:<28} {ap_text}{change}")
    if len(moved["classes"]) > PER_CLASS_LINES:
        lines.append(f"  (+{len(moved['classes']) - PER_CLASS_LINES} more: frcnn-tui report)")
    return Content("\n".join(lines))


STACK_LINES = 40  # of each rank's dump on screen; the file has the rest


def stacks_text(files: list[str]) -> Content:
    """The Stacks tab: for each rank of the newest dump, where it waits (its innermost frames,
    as in the stalled event), the file, and the head of the dump."""
    from launcher.sentinel import stacks

    if not files:
        return Content("No stack dump: the sentinel dumps every rank's stacks when the run stalls.")
    parts = [Content.from_markup("Stacks dumped when the run stalled, in [b]$folder[/]\n",
                                 folder=os.path.dirname(files[0]))]
    for path in files:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError as exc:
            text = f"(unreadable: {exc.strerror})"
        rank = Path(path).stem.removeprefix("rank")
        where = stacks.innermost(text)
        head = "\n".join(text.splitlines()[:STACK_LINES])
        # A rank without frames (stopped, gone) has its file say why in its one line.
        line = "[b]rank $rank[/] waits in [b]$where[/]  ($path)" if where else "[b]rank $rank[/]  ($path)"
        parts.append(Content.from_markup(f"\n{line}\n", rank=rank, where=where or "", path=path))
        parts.append(Content(head + "\n"))
    return Content("").join(parts)
