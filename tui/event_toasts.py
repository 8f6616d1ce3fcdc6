"""Every job's events (its sentinel's events.jsonl) as toasts with the terminal bell and a
request for a desktop notification, on any screen: a run that finishes or fails while the
user looks at another job, or at another window, is not missed.

A thread reads, every few seconds, only what each job's events.jsonl gained since the last
look (a stat per job when nothing happened). Events from before the TUI opened are old news
and are not shown; a job first seen later (launched since) shows all of its own.
"""

from __future__ import annotations

from typing import Any

from launcher import paths
from launcher.errors import UserError
from launcher.jobs import registry
from launcher.sentinel import events

__all__ = ["EventFeed", "desktop_notification", "start"]

# Kinds that need a look: an error toast; the others (finished, stopped) inform.
_ALARMING = frozenset({"failed", "stalled", "diverged", "behind-reference", "lr-after-resume", "input-bound",
                       "notify-failed"})


class EventFeed:
    """New events of every job in the registry since the feed was made."""

    def __init__(self) -> None:
        self._offsets: dict[str, int] = {}
        self._primed = False
        self._records: dict[str, tuple[float, Any]] = {}  # entry file -> (its mtime, the record)

    def _jobs(self) -> list[Any]:
        """The registry's jobs, read only (a corrupt entry is skipped here and left for the Jobs
        screen to report and quarantine); an entry is parsed again only when its file changed."""
        records, seen = [], {}
        for path in paths.jobs_dir().glob("*.json"):
            try:
                mtime = path.stat().st_mtime
                kept = self._records.get(path.name)
                record = kept[1] if kept and kept[0] == mtime else registry.load(path.stem)
            except (OSError, UserError):
                continue
            seen[path.name] = (mtime, record)
            records.append(record)
        self._records = seen
        return records

    def new_events(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for record in self._jobs():
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
