"""Messages that workers and watcher threads post to the UI; widgets only render what they carry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class InventoryProbed(Message):
    """A fresh GPU inventory (launcher.gpu_probe.Inventory)."""

    inventory: Any


@dataclass
class PlanReady(Message):
    """make_plan finished for request generation `generation`."""

    generation: int
    plan: Any


@dataclass
class PlanFailed(Message):
    generation: int
    error: str


@dataclass
class LaunchDone(Message):
    record: Any


@dataclass
class LaunchFailed(Message):
    error: str


@dataclass
class JobsLoaded(Message):
    """(JobRecord, summary row) pairs, oldest first, plus registry warnings."""

    jobs: list[tuple[Any, dict]]
    warnings: list[str]


@dataclass
class JobActionDone(Message):
    text: str
    error: bool = False


@dataclass
class MetricsUpdated(Message):
    """A JobMetrics snapshot (with series) of the monitored job."""

    snapshot: dict


@dataclass
class LogLines(Message):
    """New lines of the job's stdout/stderr: (stream, text)."""

    lines: list[tuple[str, str]]
