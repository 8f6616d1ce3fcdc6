"""What a job's snapshot learns from its run dir beyond the logs' lines: the rank that failed
first (torchrun's report and error files, rank_failure) and an lr that a resume got wrong
(the plan's schedule, lr_resume). Applied by every view of a job: watch, jobs, the Monitor."""

from __future__ import annotations

import os
from pathlib import Path

from launcher.monitor import lr_resume, rank_failure

__all__ = ["annotate"]


def annotate(snapshot: dict, run_dir: str | os.PathLike, job_status: str | None) -> dict:
    rank_failure.annotate(snapshot, run_dir, job_status)
    snapshot.setdefault("alerts", []).extend(lr_resume.lr_after_resume_alerts(run_dir))
    _work_lost(snapshot, run_dir)
    return snapshot


def _work_lost(snapshot: dict, run_dir: str | os.PathLike) -> None:
    """The iterations each restart trained again, in the snapshot and its history line (what
    jobs, watch and the Monitor show): 0 is the goal, an epoch's worth is what a kill costs."""
    from launcher.jobs import checkpoint_stop

    redone = checkpoint_stop.redone_per_restart(Path(run_dir))
    snapshot["redone_per_restart"] = redone
    if redone:
        lost = f"iterations redone per restart: {', '.join(map(str, redone))}"
        snapshot["history_line"] = f"{snapshot['history_line']}; {lost}" if snapshot.get("history_line") else lost
