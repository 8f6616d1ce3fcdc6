"""The sentinel's half for a SLURM job's time in the queue, on the submit host.

The batch script's sentinel (watcher.py) starts only when SLURM runs the job, so it cannot
say that a job has waited for hours, nor see the job leave through SLURM's own door (a time
limit, a preemption, a requeue). This one is started by `launch --slurm` (and `resume`) beside
the submit, detached from the terminal, and asks scontrol every POLL_S seconds (once a
minute or less often would do; a pending job's reason can change quickly):

- ``pending`` once the job has waited longer than ``pending_alert_minutes`` (config.toml,
  default 30), with SLURM's reason and the start its scheduler expects (``squeue --start``);
  again after each requeue that waits that long;
- ``requeued`` when SLURM's restart count grows (with the script's own requeue.txt line, why);
- ``timeout`` / ``preempted`` when SLURM ends (or takes back) the job for those reasons.

It ends when SLURM no longer has the job in a waiting or running state, or when a stop was asked.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from launcher.errors import UserError

__all__ = ["PENDING_ALERT_MINUTES", "QueueWatcher", "pending_alert_s", "start_command"]

PENDING_ALERT_MINUTES = 30.0
POLL_S = 30.0
LOG = "sentinel-queue.log"
# SLURM ends a job with these: each is its own event, and the job may come back (requeue).
_END_EVENTS = {"TIMEOUT": "timeout", "PREEMPTED": "preempted"}


def pending_alert_s() -> float:
    """config.toml's ``pending_alert_minutes`` in seconds (a positive number), else the default."""
    from launcher import paths
    from launcher.stack.training_env import settings  # config.toml's one reader

    value = settings().get("pending_alert_minutes", PENDING_ALERT_MINUTES)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise UserError(f"{paths.config_dir() / 'config.toml'}: 'pending_alert_minutes' must be a positive "
                        f"number of minutes, got {value!r}")
    return float(value) * 60


def _epoch(slurm_time: str | None) -> float | None:
    """SLURM's local ISO time (2026-12-07T04:38:08) as epoch seconds; None when it is not one."""
    try:
        return time.mktime(time.strptime(slurm_time or "", "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


class QueueWatcher:
    def __init__(self, sentinel, slurm_id: str, *, pending_after_s: float, poll_s: float | None = None) -> None:
        self.sentinel = sentinel  # raise_event: events.jsonl and the notifications, as for every event
        self.slurm_id = slurm_id
        self.pending_after_s = pending_after_s
        # A short alert time (a test, an impatient user) is looked at more often than once in POLL_S.
        self.poll_s = poll_s if poll_s is not None else min(POLL_S, max(1.0, pending_after_s / 4))
        self.restarts: int | None = None
        self.waiting_since: float | None = None
        self.pending_told = False
        self.ended_as: str | None = None

    def look(self, info, now: float | None = None) -> bool:
        """One look at SLURM's answer; False once the job has left the queue for good."""
        from launcher.jobs.slurm import state

        now = time.time() if now is None else now
        if info is None:  # SLURM forgot the job: it ended a while ago
            return False
        if info.state == state.UNREACHABLE:
            return True  # the controller may come back; nothing to say meanwhile
        if self.restarts is not None and info.restarts > self.restarts:
            self._requeued(info)
        self.restarts = info.restarts
        if info.state in _END_EVENTS and self.ended_as != info.state:
            self.ended_as = info.state
            kind = _END_EVENTS[info.state]
            why = "reached its time limit" if kind == "timeout" else "was preempted"
            self.sentinel.raise_event(kind, f"job {self.sentinel.name} ({self.sentinel.job_id}) {why} "
                                            f"(SLURM job {self.slurm_id}, restarts {info.restarts})",
                                      {"slurm_job_id": self.slurm_id, "state": info.state, "restarts": info.restarts})
        if info.state in state.WAITING:
            if self.waiting_since is None:
                # The first wait counts from the submit; a later one (a requeue) from when it was seen.
                self.waiting_since = (_epoch(info.submitted) if not info.restarts else None) or now
            waited = now - self.waiting_since
            if waited >= self.pending_after_s and not self.pending_told:
                self.pending_told = True
                self._pending(info, waited)
            return True
        self.waiting_since, self.pending_told = None, False
        # After a time limit or a preemption the job may come back (requeue): watched until SLURM forgets it.
        return info.state in state.ACTIVE or info.state in _END_EVENTS

    def _pending(self, info, waited: float) -> None:
        start = info.expected_start or "not estimated yet"
        reason = info.reason or "no reason given"
        self.sentinel.raise_event(
            "pending", f"job {self.sentinel.name} ({self.sentinel.job_id}) has been pending for {_minutes(waited)}: "
                       f"{reason}; SLURM expects it to start {start} (SLURM job {self.slurm_id})",
            {"slurm_job_id": self.slurm_id, "reason": info.reason, "expected_start": info.expected_start,
             "waited_s": round(waited, 1)})

    def _requeued(self, info) -> None:
        from launcher.jobs.slurm.script import REQUEUE_FILE

        try:
            why = (self.sentinel.run_dir / REQUEUE_FILE).read_text().strip()
        except OSError:
            why = ""
        self.sentinel.raise_event(
            "requeued", f"job {self.sentinel.name} ({self.sentinel.job_id}) was requeued by SLURM "
                        f"(restart {info.restarts}){': ' + why if why else ''}",
            {"slurm_job_id": self.slurm_id, "restarts": info.restarts, "requeue": why or None})

    def run(self) -> int:
        from launcher.jobs import registry
        from launcher.jobs.slurm import cluster

        stop_file = self.sentinel.run_dir / registry.STOP_FILE
        self.sentinel.notifier.start()
        next_look = 0.0
        while not stop_file.exists() and not self.sentinel.stop_event.is_set():
            if time.monotonic() >= next_look:
                keep = True

                def one_look() -> None:
                    nonlocal keep
                    keep = self.look(cluster.job_info(self.slurm_id))

                self.sentinel._guarded(one_look)
                if not keep:
                    break
                next_look = time.monotonic() + self.poll_s
            self.sentinel.stop_event.wait(1.0)  # a stop is seen within a second
        self.sentinel.notifier.drain(time.monotonic() + 30.0)
        return 0


RUN_DIR_ENV = "FRCNN_TUI_QUEUE_RUN_DIR"


def start_command(job_id: str, slurm_id: str) -> list[str]:
    # The run dir goes in the environment, not the command line: what finds a job's processes by
    # its run dir (pgrep -f) must not take this watcher, which outlives the job by a poll, for one.
    return [sys.executable, "-m", "launcher.sentinel.slurm_queue", "--job", job_id, "--slurm-id", slurm_id]


def start(run_dir: Path, job_id: str, slurm_id: str) -> None:
    """Starts the watcher detached (its own session: it outlives the terminal, like the job);
    its output goes to the run dir's sentinel-queue.log. A failure to start it never fails the launch."""
    import subprocess

    try:
        with open(Path(run_dir) / LOG, "ab") as log:
            subprocess.Popen(start_command(job_id, slurm_id), stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True, cwd="/",
                             env=dict(os.environ, **{RUN_DIR_ENV: str(run_dir)}))
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.sentinel.slurm_queue")
    parser.add_argument("run_dir", nargs="?", help=f"default: ${RUN_DIR_ENV} (how start() passes it)")
    parser.add_argument("--job", required=True)
    parser.add_argument("--slurm-id", required=True)
    args = parser.parse_args(argv)
    args.run_dir = args.run_dir or os.environ.get(RUN_DIR_ENV)
    if not args.run_dir:
        parser.error(f"give the run dir (or {RUN_DIR_ENV})")
    from launcher.sentinel import notify
    from launcher.sentinel.watcher import Sentinel, install_signals

    problems = []
    try:
        targets = notify.targets_for_run(args.run_dir)
    except UserError as exc:
        targets = []
        problems.append(str(exc))
    try:
        after = pending_alert_s()
    except UserError as exc:
        after = PENDING_ALERT_MINUTES * 60
        problems.append(str(exc))
    sentinel = Sentinel(args.run_dir, args.job, targets=targets)
    install_signals(sentinel)
    print(f"queue sentinel for job {args.job} (SLURM job {args.slurm_id}): pending alert after "
          f"{_minutes(after)}", flush=True)
    for problem in problems:
        print(f"sentinel: {problem}", flush=True)
    return QueueWatcher(sentinel, args.slurm_id, pending_after_s=after).run()


if __name__ == "__main__":
    sys.exit(main())
