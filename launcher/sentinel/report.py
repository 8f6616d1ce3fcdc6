"""What the views of a job (`jobs`, `watch --json`, the Jobs and Monitor screens) show of its
sentinel: its newest events, whether it is still there, and where it notifies (redacted)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from launcher.sentinel import events, notify, presence, stacks
from launcher import run_files

__all__ = ["ROW_EVENTS", "fields", "note"]

ROW_EVENTS = 5  # a job list's row: the newest few; `watch --json` and the Monitor take more


def fields(run_dir: str | os.PathLike, status: str, limit: int = ROW_EVENTS) -> dict[str, Any]:
    """``events`` (newest LIMIT), ``sentinel`` (presence.state; None for a job from before the
    sentinel), ``sentinel_gone`` (a running job's sentinel was killed: no event or notification
    will come), ``notify`` (the run's own targets, redacted) and ``stacks`` (the files of the
    newest stack dump of a stalled run)."""
    sentinel = presence.state(run_dir)
    return {"events": events.read(run_dir, limit=limit), "sentinel": sentinel,
            "sentinel_gone": status == "running" and sentinel == presence.GONE,
            "notify": [notify.redact(u) for u in _plan_targets(Path(run_dir))],
            "stacks": stacks.latest(run_dir)}


def _plan_targets(run_dir: Path) -> list[str]:
    urls = run_files.read_plan(run_dir).get("notify") or []
    return [u for u in urls if isinstance(u, str)] if isinstance(urls, list) else []


def note(row: dict[str, Any]) -> str:
    """What a job list adds to a running job's status when its sentinel is gone."""
    return "sentinel gone" if row.get("sentinel_gone") else ""
