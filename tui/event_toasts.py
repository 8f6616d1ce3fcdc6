"""Every job's events (its sentinel's events.jsonl) as toasts with the terminal bell, on any
screen: a run that finishes or fails while the user looks at another job is not missed.

A thread reads, every few seconds, only what each job's events.jsonl gained since the last
look (a stat per job when nothing happened). Events from before the TUI opened are old news
and are not shown; a job first seen later (launched since) shows all of its own.
"""

from __future__ import annotations

from typing import Any

from launcher.jobs import registry
from launcher.sentinel import events

__all__ = ["EventFeed", "start"]

# Kinds that need a look: an error toast; the others (finished, stopped) inform.
_ALARMING = frozenset({"failed", "stalled", "diverged", "behind-reference", "lr-after-resume", "input-bound",
                       "notify-failed"})


class EventFeed:
    """New events of every job in the registry since the feed was made."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}
        self._primed = False

    def new_events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for record in registry.load_all(warn=lambda _msg: None):
            key = str(record.run_path)
            offset = self._offsets.get(key)
            if offset is None:
                offset = events.size(record.run_path) if not self._primed else 0
            if events.size(record.run_path) != offset:
                new, offset = events.read_from(record.run_path, offset)
                found += [dict(e, name=record.name) for e in new]
            self._offsets[key] = offset
        self._primed = True
        return found


def start(app: Any, interval: float) -> None:
    """Looks for new events every INTERVAL seconds; each shows as a toast, and the bell rings."""
    feed = EventFeed()

    def look() -> None:
        found = feed.new_events()
        if found:
            app.call_from_thread(show, app, found)

    def tick() -> None:
        app.run_worker(look, thread=True, group="job-events", exclusive=True, exit_on_error=False)

    # The first look only primes the feed (what is there already is not news); once the first
    # frame is drawn, so that reading the registry never delays it.
    app.call_after_refresh(tick)
    app.set_interval(interval, tick)


def show(app: Any, found: list[dict[str, Any]]) -> None:
    for event in found:
        kind = event.get("kind", "")
        app.notify(str(event.get("text") or kind), title=f"{kind}: job {event.get('name') or event.get('job')}",
                   severity="error" if kind in _ALARMING else "information", timeout=15)
    app.bell()
