"""Every job's events (its sentinel's events.jsonl) as toasts with the terminal bell and a
request for a desktop notification, on any screen: a run that finishes or fails while the
user looks at another job, or at another window, is not missed.

A thread reads, every few seconds, only what each job's events.jsonl gained since the last
look (a stat per job when nothing happened). Events from before the TUI opened are old news
and are not shown; a job first seen later (launched since) shows all of its own.

Only jobs whose events can still grow are followed: a registry of a thousand old runs would
otherwise cost a thousand stats every look (most of an idle TUI's CPU). A job is let go once,
asked BEFORE its last read, nothing can append any more (``finished_writing``): its sentinel
said it ended (it writes its last event, a given-up notification included, before that) or is
gone, or the job ended without a sentinel. Its registry entry rewritten (a resume) follows it
again. The registry's folder is listed again only when its mtime says an entry was added,
removed or rewritten (they are all written by rename).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from launcher import paths, run_files
from launcher.errors import UserError
from launcher.jobs import backends, registry
from launcher.sentinel import events, presence
from tui.threads import run_detached

__all__ = ["EventFeed", "desktop_notification", "start"]

# Kinds that need a look: an error toast; the others (finished, stopped) inform.
_ALARMING = frozenset({"failed", "stalled", "diverged", "behind-reference", "lr-after-resume", "input-bound",
                       "notify-failed"})


class EventFeed:
    """New events of every job in the registry since the feed was made."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}
        self._primed = False
        # entry file -> ((its mtime, inode), the record): an entry is parsed again only when rewritten
        self._records: dict[str, tuple[tuple[int, int], Any]] = {}
        # entry file -> its (mtime, inode) when the job's events were read to their end for good
        self._done: dict[str, tuple[int, int]] = {}
        self._listed: int | None = None  # the registry folder's mtime when it was last listed

    def following(self) -> set[str]:
        """The ids of the jobs still followed (what a test checks)."""
        return {record.id for name, (key, record) in self._records.items() if self._done.get(name) != key}

    def _jobs(self) -> None:
        """Lists the registry again when its folder changed (a corrupt entry is skipped here and
        left for the Jobs screen to report and quarantine)."""
        jobs_dir = paths.jobs_dir()
        try:
            mtime = jobs_dir.stat().st_mtime_ns
        except OSError:
            return
        if mtime == self._listed:
            return
        seen = {}
        for path in jobs_dir.glob("*.json"):
            try:
                st = path.stat()
                key = (st.st_mtime_ns, st.st_ino)
                kept = self._records.get(path.name)
                record = kept[1] if kept and kept[0] == key else registry.load(path.stem)
            except (OSError, UserError):
                continue
            seen[path.name] = (key, record)
        self._records = seen
        self._done = {name: key for name, key in self._done.items() if name in seen}
        # A folder changed within the last second may change again under the same mtime (the
        # kernel's clock for file times is coarse): trusted only once it is older than that.
        self._listed = mtime if time.time_ns() - mtime > 1_000_000_000 else None

    def new_events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        self._jobs()
        for name, (entry_key, record) in self._records.items():
            if self._done.get(name) == entry_key:
                continue
            last = finished_writing(record, entry_key[0])  # before the read: see the module's doc
            key = str(record.run_path)
            offset = self._offsets.get(key)
            if offset is None:
                offset = events.size(record.run_path) if not self._primed else 0
            if events.size(record.run_path) != offset:
                new, offset = events.read_from(record.run_path, offset)
                found += [dict(e, name=record.name) for e in new]
            self._offsets[key] = offset
            if last:
                self._done[name] = entry_key
        self._primed = True
        return found


def finished_writing(record: Any, entry_mtime_ns: int) -> bool:
    """Whether nothing will append to the job's events.jsonl any more. A SLURM job also has its
    queue sentinel (slurm_queue.py, no presence file) that may raise timeout/preempted/requeued
    after the batch script's sentinel ended, within two of its polls: it is let go only with its
    exit status written (SLURM may requeue it otherwise) and that long after its sentinel's end."""
    run_dir = record.run_path
    try:
        sentinel = os.stat(run_dir / presence.FILE)
        data = json.loads((run_dir / presence.FILE).read_text())
    except FileNotFoundError:
        # No sentinel: a job from before it or launched with it off; nothing writes events once it ended.
        return (run_dir / run_files.EXIT_STATUS).exists()
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or sentinel.st_mtime_ns < entry_mtime_ns:
        return False  # an earlier attempt's sentinel: a resume's own starts now
    if late := backends.backend_for(record).late_events_s:  # SLURM's queue sentinel, see above
        ended = data.get("ended_at")
        return (isinstance(ended, (int, float)) and time.time() - ended > late
                and (run_dir / run_files.EXIT_STATUS).exists())
    return bool(data.get("ended_at")) or presence.state(run_dir) == presence.GONE


def start(app: Any, interval: float) -> None:
    """Looks for new events every INTERVAL seconds; each shows as a toast, and the bell rings."""
    feed = EventFeed()
    looking = False

    async def look() -> None:
        nonlocal looking
        try:
            found = await run_detached(feed.new_events)
        finally:
            looking = False
        if found:
            show(app, found)

    def tick() -> None:
        # One look at a time, never cancelled: a cancelled look would have moved the feed past
        # events it then never showed (a slow registry read can outlast the interval).
        nonlocal looking
        if not looking:
            looking = True
            app.run_worker(look(), group="job-events", exit_on_error=False)

    # The first look only primes the feed (what is there already is not news); once the first
    # frame is drawn, so that reading the registry never delays it.
    app.call_after_refresh(tick)
    app.set_interval(interval, tick)


def show(app: Any, found: list[dict[str, Any]]) -> None:
    for event in found:
        kind = event.get("kind", "")
        title = f"{kind}: job {event.get('name') or event.get('job')}"
        app.notify(str(event.get("text") or kind), title=title,
                   severity="error" if kind in _ALARMING else "information", timeout=15)
        if not app.is_headless and app._driver is not None:  # as App.bell writes its BEL
            app._driver.write(desktop_notification(title, str(event.get("text") or "")))
    app.bell()


def desktop_notification(title: str, body: str) -> str:
    """The escape sequences that ask the terminal for a desktop notification: OSC 9 (iTerm2,
    Windows Terminal, WezTerm, kitty) and OSC 777 (VTE, foot, kitty). A terminal that knows
    neither ignores them. Control characters are dropped (one could end the sequence early), and
    ';' in OSC 777's title, which separates its fields."""
    def clean(text: str, limit: int) -> str:
        return "".join(c for c in text if c.isprintable())[:limit]

    title, body = clean(title, 80).replace(";", ","), clean(body, 240)
    return f"\x1b]9;{title}: {body}\x07\x1b]777;notify;{title};{body}\x07"
