"""The lines of a job's script (launch.sh, the SLURM batch script) that start its sentinel and
wait for it: in the background before the training, carrying the job's marker like every
process of the job (so stop and status stay identity-safe), and waited for after the exit
status is written, so the sentinel reports the end and then ends with the job.

FRCNN_TUI_SENTINEL=off at launch leaves it out of the script (the job then behaves like one
from before the sentinel): for measuring what it costs (bench/bench_sentinel_cost.py), and
for a user who wants no process beside the training."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from launcher.jobs import shell

__all__ = ["LOG", "script_end", "script_start"]

LOG = "sentinel.log"
OFF_ENV = "FRCNN_TUI_SENTINEL"


def enabled() -> bool:
    return os.environ.get(OFF_ENV, "").lower() not in ("off", "0", "no")


def script_start(job_id: str, run_dir: Path) -> list[str]:
    if not enabled():
        return [shell.comment(f"No sentinel ({OFF_ENV}=off at launch): no events, no notifications.")]
    # frcnn-tui's own interpreter (it has apprise), not the training one.
    sentinel = [sys.executable, "-m", "launcher.sentinel", str(run_dir), "--job", job_id]
    return [shell.comment("The sentinel: events and notifications while nobody watches (ends with the job)."),
            f'{shell.words(sentinel)} --parent "$$" >> {shell.word(Path(run_dir) / LOG)} 2>&1 < /dev/null &',
            "sentinel=$!"]


def script_end() -> list[str]:
    if not enabled():
        return []
    # Its last notifications take at most watcher.END_GRACE_S; a killed sentinel is not waited for.
    return ['wait "$sentinel" 2>/dev/null']
