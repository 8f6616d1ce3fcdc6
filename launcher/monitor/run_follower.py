"""The one run follower: a run dir's tailer, its metrics set up from the run's plan, the run checks
and the comparison with a reference, put together once for every reader of a run.

Who follows a run through it: ``watch`` (cli/watch_view), the TUI's Monitor (tui/watcher), the job
lists (``jobs`` and the Jobs screen: jobs/summary), ``demo``, ``report``, ``compare``, the job's
sentinel (sentinel/watcher), the job's history keeper (history_keeper) and the attempt notes. Put
together in one place, they cannot judge one run differently: every one of them takes the lr
warmup the run's plan.json planned (the divergence alert ignores it), never mmdet's default 500,
which also keeps a history one of them kept (history_cache, keyed on the warmup) valid for all.

``snapshot(job_status)`` schema: what ``JobMetrics.snapshot`` gives (status, progress, eta_s,
eta_source, latest, map_by_epoch, best, alerts, errors, history, history_line, lr_scaling_line,
coco_table, per_class, checkpoints, last_write, idle_s, catching_up, ...; ``series`` when
following with ``series=True``), plus the run checks (run_checks: ``rank_failure``, the
lr-after-resume alerts, ``redone_per_restart``), plus with ``compare=True`` ``reference`` and
``target`` (reference_compare.apply: a reference run's comparison and its behind-reference alert,
or the preset's target AP).

How much a look reads is the caller's: ``poll`` parses at most ``poll_bytes`` of scalars (the
rest of a long backlog is skimmed for a first view, see backlog_skim), ``catch_up`` reads all
there is, keeping a long history for the next reader (history_cache) unless told not to.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any

from launcher import run_files
from launcher.monitor import STALL_GRACE_S, history_cache, run_checks
from launcher.monitor.metrics import DEFAULT_WARMUP_ITERS, JobMetrics
from launcher.monitor.values import finite
from launcher.monitor.workdir import WorkDirTailer

__all__ = ["CATCH_UP_BYTES", "AUTO", "RunFollower", "catch_up", "fresh", "planned_stall_grace_s",
           "planned_warmup_iters", "snapshot_of_work_dir"]

# Scalars parsed per poll while catching up on history: big enough to catch up in
# seconds, small enough that a live view and Ctrl-C stay responsive, and that one
# TailUpdate stays a few tens of MiB however long the history.
CATCH_UP_BYTES = 8 << 20
# With compare=True: the reference and the target the run's record and plan point at.
AUTO = "auto"


def planned_warmup_iters(run_dir: str | os.PathLike, plan: dict[str, Any] | None = None) -> int:
    """The lr warmup a run dir's plan.json planned (the divergence alert ignores it); mmdet's
    default when there is no plan (a work dir frcnn-tui did not launch). ``plan``: the plan
    already read (run_files.read_plan)."""
    value = (run_files.read_plan(Path(run_dir)) if plan is None else plan).get("warmup_iters")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else DEFAULT_WARMUP_ITERS


def planned_stall_grace_s(plan: dict[str, Any]) -> float:
    """The silence a run's launch allowed beyond its usual log intervals before a stall
    (launch --stall-grace); the stall rule's default otherwise."""
    value = plan.get("stall_grace_s")
    return float(value) if finite(value) and value >= 0 else STALL_GRACE_S


class RunFollower:
    """Follows one run dir (or any MMEngine / mmdet 2.x work dir) from one look to the next, so
    each look reads only what was written since.

    ``max_epochs`` and ``reference_ap`` are the job's (its registry record: ``for_job``, or its
    plan: ``for_plan``); unknown, the schedule comes from the config dumped in the work dir.
    ``compare``: add the comparison with a reference; ``reference`` (a ReferenceTracker or None)
    and ``target`` (reference_compare.preset_target or None) default to the run's own (AUTO: the
    reference recorded at launch or the preset's, which, unreadable, leaves only the target).

    Not thread-safe, as JobMetrics: one thread polls and takes snapshots."""

    def __init__(self, run_dir: str | os.PathLike, *, max_epochs: int | None = None,
                 reference_ap: float | None = None, preset: str | None = None, series: bool = False,
                 poll_bytes: int | None = CATCH_UP_BYTES, compare: bool = False, reference: Any = AUTO,
                 target: Any = AUTO) -> None:
        self.run_dir = Path(run_dir)
        self.plan = run_files.read_plan(self.run_dir)
        self.series = series
        self.poll_bytes = poll_bytes
        self.tailer = WorkDirTailer(self.run_dir)
        self.metrics = JobMetrics(max_epochs=max_epochs, reference_ap=reference_ap,
                                  warmup_iters=planned_warmup_iters(self.run_dir, self.plan),
                                  stall_grace_s=planned_stall_grace_s(self.plan))
        self.backlog_bytes = 0  # scalars left unparsed by the last poll
        self.compare = compare
        if compare:
            reference, target = _comparison(self.run_dir, preset, reference_ap, reference, target)
        self.reference, self.target = reference, target
        self._kept_at = 0
        self._stalled = False

    @classmethod
    def for_job(cls, record: Any, **kwargs: Any) -> "RunFollower":
        """A job of the registry (a JobRecord): its run dir, schedule, preset and reference AP."""
        return cls(record.run_path, max_epochs=record.max_epochs, reference_ap=record.reference_ap,
                   preset=record.preset, **kwargs)

    @classmethod
    def for_plan(cls, run_dir: str | os.PathLike, **kwargs: Any) -> "RunFollower":
        """A run dir known by its plan.json alone (the sentinel, on a SLURM node without the
        registry): the plan's preset and reference AP."""
        plan = run_files.read_plan(Path(run_dir))
        return cls(run_dir, reference_ap=plan.get("reference_ap"), preset=plan.get("preset"), **kwargs)

    # -- reading --------------------------------------------------------------------

    @property
    def bytes_read(self) -> int:
        return self.tailer.bytes_read

    def poll(self) -> bool:
        """One look at what is new, at most ``poll_bytes`` of scalars parsed in order (None: all);
        returns whether anything a snapshot shows may have changed."""
        upd = self.tailer.poll(max_bytes=self.poll_bytes)
        self.backlog_bytes = upd.backlog_bytes
        return self.metrics.update(upd)

    def catch_up(self, *, keep: bool = True) -> bool:
        """Everything on disk, a bounded piece at a time (``catch_up``); returns whether anything changed."""
        changed = catch_up(self.tailer, self.metrics, keep=keep)
        self.backlog_bytes = 0
        return changed

    def restore(self) -> bool:
        """Starts from the state the last reader of this run kept (history_cache), when nothing
        was read yet; a reader that then polls keeps it again with ``keep_if_caught_up``."""
        restored = fresh(self.tailer, self.metrics) and history_cache.restore(self.tailer, self.metrics)
        self._kept_at = self.tailer.bytes_read
        return restored

    def keep_if_caught_up(self) -> bool:
        """Keeps the state for the next reader once the polls have caught up on a long history
        (at least history_cache.SAVE_MIN_BYTES read since the last keep); returns whether it kept."""
        if self.backlog_bytes or self.tailer.bytes_read - self._kept_at < history_cache.SAVE_MIN_BYTES:
            return False
        self._kept_at = self.tailer.bytes_read
        return history_cache.save(self.tailer, self.metrics)

    def keep(self) -> bool:
        """Keeps the state read so far for the next reader, however short (the history keeper)."""
        return history_cache.save(self.tailer, self.metrics)

    # -- judging --------------------------------------------------------------------

    def stall_changed(self, job_status: str | None, now: float | None = None) -> bool:
        """Whether a stall began or ended since the last call: silence changes nothing on disk,
        so a live view asks this to know it must show the run again."""
        was, self._stalled = self._stalled, self.metrics.stall_alert(job_status, now) is not None
        return was != self._stalled

    def snapshot(self, job_status: str | None = None, *, now: float | None = None) -> dict[str, Any]:
        """The run as every view judges it (the schema is in the module doc); plain JSON-safe data."""
        snap = self.metrics.snapshot(series=self.series, job_status=job_status, now=now)
        run_checks.annotate(snap, self.run_dir, job_status)
        if self.compare:
            from launcher.monitor import reference_compare  # the references only for a view that compares

            reference_compare.apply(snap, self.reference, self.target)
        return snap

    def read_once(self, job_status: str | None = None) -> dict[str, Any]:
        """One look for a one-shot reader: every line read (``poll_bytes`` None), else one
        skimmed poll (progress, latest values, mAP, best and the first NaN are still exact, at a
        fraction of the cost on a long history; series and the divergence alert then cover only
        the first ``poll_bytes``)."""
        if self.poll_bytes is None:
            self.catch_up()
        else:
            self.poll()
        return self.snapshot(job_status)


def _comparison(run_dir: Path, preset: str | None, reference_ap: float | None, reference: Any,
                target: Any) -> tuple[Any, Any]:
    from launcher.monitor import reference_compare

    if reference is AUTO:
        try:
            reference = reference_compare.tracker_for(run_dir, None, preset)
        except Exception:  # an unreadable reference store must not stop the following; the target stays
            reference = None
    if target is AUTO:
        target = reference_compare.preset_target(preset, reference_ap)
    return reference, target


def snapshot_of_work_dir(work_dir: str | os.PathLike, *, max_epochs: int | None = None,
                         reference_ap: float | None = None, series: bool = False,
                         max_bytes: int | None = None, job_status: str | None = None) -> dict:
    """One look at a work dir for a reader that looks once (``RunFollower.read_once``): every line
    read (``max_bytes=None``), else one skimmed poll of at most ``max_bytes``."""
    return RunFollower(work_dir, max_epochs=max_epochs, reference_ap=reference_ap, series=series,
                       poll_bytes=max_bytes).read_once(job_status)


def catch_up(tailer: WorkDirTailer, metrics: JobMetrics, *, keep: bool = True) -> bool:
    """Reads everything on disk into ``metrics``, a bounded piece at a time;
    returns whether anything changed. ``keep``: start from the state kept by the
    last reader of this work dir, and keep a long history read here for the next
    one (``history_cache``)."""
    changed = keep and fresh(tailer, metrics) and history_cache.restore(tailer, metrics)
    start = tailer.bytes_read
    # Parsing a long history allocates a dict per line and frees it a piece later, with no
    # reference cycles: the cyclic GC's passes over them free nothing and took 10-15% of a
    # from-scratch read (bench/findings.md "log-ingest"). Memory stays bounded by the piece.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            upd = tailer.poll(max_bytes=CATCH_UP_BYTES, skim=False)
            changed |= metrics.update(upd)
            if not upd.backlog_bytes:
                break
    finally:
        if was_enabled:
            gc.enable()
    if keep and tailer.bytes_read - start >= history_cache.SAVE_MIN_BYTES:
        history_cache.save(tailer, metrics)
    return changed


def fresh(tailer: WorkDirTailer, metrics: JobMetrics) -> bool:
    """Whether neither has read anything yet (only then may a kept state replace theirs)."""
    return not tailer.bytes_read and not tailer.followed_files() and metrics.empty
