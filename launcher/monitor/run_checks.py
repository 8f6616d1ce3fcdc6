"""What a job's snapshot learns from its run dir beyond the logs' lines: the rank that failed
first (torchrun's report and error files, rank_failure) and an lr that a resume got wrong
(the plan's schedule, lr_resume). Applied by every view of a job: watch, jobs, the Monitor."""

from __future__ import annotations

import os

from launcher.monitor import lr_resume, rank_failure

__all__ = ["annotate"]


def annotate(snapshot: dict, run_dir: str | os.PathLike, job_status: str | None) -> dict:
    rank_failure.annotate(snapshot, run_dir, job_status)
    snapshot.setdefault("alerts", []).extend(lr_resume.lr_after_resume_alerts(run_dir))
    return snapshot
