"""Messages that workers and watcher threads post to the UI; widgets only render what they carry.

Plain classes rather than dataclasses: this module is imported before the first frame, and
generating eight dataclasses costs more than the rest of it.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class InventoryProbed(Message):
    """A fresh GPU inventory (launcher.hardware.gpu_probe.Inventory)."""

    def __init__(self, inventory: Any) -> None:
        super().__init__()
        self.inventory = inventory


class PlanReady(Message):
    """make_plan finished for request generation `generation`."""

    def __init__(self, generation: int, plan: Any) -> None:
        super().__init__()
        self.generation, self.plan = generation, plan


class PlanFailed(Message):
    def __init__(self, generation: int, error: str) -> None:
        super().__init__()
        self.generation, self.error = generation, error


class LaunchDone(Message):
    def __init__(self, record: Any) -> None:
        super().__init__()
        self.record = record


class LaunchFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class JobsLoaded(Message):
    """(JobRecord, summary row) pairs, oldest first, plus registry warnings."""

    def __init__(self, jobs: list[tuple[Any, dict]], warnings: list[str]) -> None:
        super().__init__()
        self.jobs, self.warnings = jobs, warnings


class JobActionDone(Message):
    def __init__(self, text: str, error: bool = False) -> None:
        super().__init__()
        self.text, self.error = text, error


class MetricsUpdated(Message):
    """A JobMetrics snapshot (with series) of the monitored job."""

    def __init__(self, snapshot: dict) -> None:
        super().__init__()
        self.snapshot = snapshot


class LogLines(Message):
    """New lines of the job's stdout/stderr: (stream, text)."""

    def __init__(self, lines: list[tuple[str, str]]) -> None:
        super().__init__()
        self.lines = lines
