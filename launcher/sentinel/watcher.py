"""The sentinel's loop: follow one job's run dir until the job ends, raise events, notify.

It follows the run the way every view does (the run follower, comparing with the reference:
the same alerts `watch` and the Monitor show) and turns what is new into
events: an alert that appears (``stalled`` each time it starts again; ``diverged``,
``behind-reference``, ``lr-after-resume`` once each), and at the end ``finished`` (final and
best mAP, against the reference), ``failed`` (the rank that failed first and the first error
line) or ``stopped``. The job has ended when its launch script wrote the exit status, or when
that script is gone (killed). Cost: a stat of the exit file every TICK_S and one poll of the
logs every POLL_S, which reads only the lines written since.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from launcher.monitor import rank_failure
from launcher.monitor.run_follower import RunFollower
from launcher.sentinel import events, notify, presence, stacks
from launcher import run_files

__all__ = ["Sentinel", "ALERT_EVENTS"]

TICK_S = 0.5
POLL_S = 5.0
# After the job ends: how long the last notifications may take (the job reads running until then).
END_GRACE_S = 30.0
STOP_GRACE_S = 5.0
# The alerts every view shows -> the event each raises.
ALERT_EVENTS = {"stalled": "stalled", "divergence": "diverged", "nonfinite_loss": "diverged",
                "behind-reference": "behind-reference", "lr-after-resume": "lr-after-resume",
                "input-bound": "input-bound"}


class Sentinel:
    def __init__(self, run_dir: str | os.PathLike, job_id: str, *, parent_pid: int | None = None,
                 targets: list[notify.Target] | None = None, poll_s: float = POLL_S) -> None:
        self.run_dir = Path(run_dir)
        self.job_id = job_id
        self.poll_s = poll_s
        # From the plan alone: on a SLURM node the registry may be on another host's disk. A damaged
        # reference store leaves the follower without a reference, never the job without its sentinel.
        self.follower = RunFollower.for_plan(self.run_dir, compare=True, target=None)
        plan = self.follower.plan
        self.name = _job_name(job_id) or plan.get("preset") or job_id
        self.reference_ap = plan.get("reference_ap")
        self.stop_on_stall = plan.get("on_stall") == "stop"  # launch --on-stall stop
        self.parent = _process(parent_pid)
        self.stop_event = threading.Event()
        self.raised: list[dict[str, Any]] = []
        self._seen: set[tuple] = set()
        self._active_stall = False
        self.notifier = notify.Notifier(targets or [], self._gave_up)

    # -- events ---------------------------------------------------------------------

    def raise_event(self, kind: str, text: str, details: dict[str, Any] | None = None,
                    *, send: bool = True) -> dict[str, Any]:
        event = events.append(self.run_dir, kind, self.job_id, text, dict(details or {}, name=self.name))
        if event is None:  # not written (a full disk): still sent, the user hears of it either way
            event = {"time": time.time(), "kind": kind, "job": self.job_id, "text": text,
                     "details": dict(details or {}, name=self.name)}
        self.raised.append(event)
        print(f"{time.strftime('%H:%M:%S')} {kind}: {text}", flush=True)
        if send:
            self.notifier.submit(event)
        return event

    def _gave_up(self, target: notify.Target, event: dict, tries: int, reason: str) -> None:
        self.raise_event("notify-failed",
                         f"could not notify {target.name} of '{event.get('kind')}' after {tries} tr"
                         f"{'y' if tries == 1 else 'ies'}: {reason}",
                         {"target": target.name, "event": event.get("kind"), "tries": tries}, send=False)

    # -- following ------------------------------------------------------------------

    def snapshot(self, status: str) -> dict[str, Any]:
        return self.follower.snapshot(status)

    def _alerts(self, snap: dict[str, Any], *, quiet: bool = False) -> None:
        stalled = False
        for alert in snap.get("alerts") or []:
            kind = ALERT_EVENTS.get(alert.get("kind"))
            if kind is None:
                continue
            if kind == "stalled":
                stalled = True
                if self._active_stall:
                    continue
                self._active_stall = True
            else:
                key = (alert.get("kind"), alert.get("step"), alert.get("message"))
                if key in self._seen:
                    continue
                self._seen.add(key)
            if not quiet:
                text = f"job {self.name} ({self.job_id}) {kind}: {alert.get('message')}"
                details = {k: v for k, v in alert.items() if k in ("kind", "step", "epoch", "causes", "data_time", "time")}
                if kind == "stalled":  # where each rank waits: the first thing anyone debugging a hang needs
                    dumped = stacks.dump(self.run_dir, self.job_id)
                    if dumped:
                        details["stacks"] = dumped
                        text += "; stacks: " + ", ".join(f"rank {r} {w}" for r, w in dumped["ranks"].items()) + \
                            f" (in {dumped['dir']})"
                    if self.stop_on_stall:
                        text += "; stopping the job (--on-stall stop)"
                self.raise_event(kind, text, details)
                if kind == "stalled" and self.stop_on_stall:
                    self._stop_job()  # after the dump and its event: the stacks are what a user needs then
        self._active_stall = stalled

    def _stop_job(self) -> None:
        """Stops the job the way `frcnn-tui stop` does (identity-safe; SLURM: scancel, no requeue),
        from a process of its own: outside the job's marker and session, since the stop signals
        every process of the job, this sentinel included (which then reports 'stopped')."""
        from launcher.jobs import identity, registry

        env = {k: v for k, v in os.environ.items() if k not in identity.marker_env(self.job_id)}
        if os.environ.get("SLURM_JOB_ID"):  # in the batch job: the registry may be on another host's disk
            registry.write_atomic(self.run_dir / registry.STOP_FILE, str(time.time()))
            command = ["scancel", os.environ["SLURM_JOB_ID"]]
        else:
            command = [sys.executable, "-m", "launcher.cli.main", "stop", self.job_id]
        try:
            subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
        except OSError as exc:
            print(f"{time.strftime('%H:%M:%S')} sentinel: could not stop the job: {exc}", flush=True)

    def poll(self, status: str = "running") -> dict[str, Any]:
        self.follower.poll()
        snap = self.snapshot(status)
        self._alerts(snap)
        return snap

    def ended(self) -> bool:
        if (self.run_dir / run_files.EXIT_STATUS).exists():
            return True
        return self.parent is not None and not _alive(self.parent)

    def run(self) -> int:
        presence.mark_started(self.run_dir)
        self.notifier.start()
        # What the logs held before this sentinel started (a resumed job's history) was news then.
        self.follower.catch_up()
        self._alerts(self.snapshot("running"), quiet=True)
        next_poll = time.monotonic() + self.poll_s
        while not self.ended() and not self.stop_event.is_set():
            if time.monotonic() >= next_poll:
                self._guarded(self.poll)
                next_poll = time.monotonic() + self.poll_s
            self.stop_event.wait(TICK_S)
        self.finish()
        return 0

    def _guarded(self, step) -> None:
        """One look at the run; an error in it (a file caught half-written, a bug) is logged and the
        next look tries again: a sentinel that died would leave the rest of the run unwatched."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - see above
            print(f"{time.strftime('%H:%M:%S')} sentinel: this look failed, the next one retries: "
                  f"{type(exc).__name__}: {exc}", flush=True)

    def finish(self) -> None:
        from launcher.jobs import checkpoint_stop, registry

        code = run_files.read_exit_status(self.run_dir)
        stop_asked = (self.run_dir / registry.STOP_FILE).exists()
        status = "succeeded" if code == 0 else "stopped" if stop_asked else "failed"
        self.follower.catch_up(keep=False)
        snap = self.snapshot(status)
        self._alerts(snap)
        saved = checkpoint_stop.saved(self.run_dir) if code == checkpoint_stop.CHECKPOINT_EXIT else None
        if code == 0:
            self._finished(snap)
        elif stop_asked or saved:
            # A checkpoint on SLURM's warning is no failure either: the job requeues itself from it.
            at = f" at a checkpoint of iteration {saved['iter']}" if saved else ""
            why = ("as asked" if stop_asked else "on SLURM's warning" if saved["reason"] == checkpoint_stop.SLURM_WARNING
                   else f"on request ({saved['reason']})")
            self.raise_event("stopped", f"job {self.name} ({self.job_id}) stopped {why}{at}",
                             {"exit_code": code, **({"checkpoint": saved} if saved else {})})
        else:
            self._failed(snap, code)
        # Asked to end (a stop's SIGTERM, which SIGKILLs after its grace): only a short wait.
        self.notifier.drain(time.monotonic() + (STOP_GRACE_S if self.stop_event.is_set() else END_GRACE_S))
        presence.mark_ended(self.run_dir)

    def _finished(self, snap: dict[str, Any]) -> None:
        best = snap.get("best") or {}
        maps = [m for m in snap.get("map_by_epoch") or [] if m.get(best.get("metric") or "bbox_mAP") is not None]
        final = maps[-1].get(best.get("metric") or "bbox_mAP") if maps else None
        text = f"job {self.name} ({self.job_id}) finished"
        if best:
            text += f": best {best['metric']} {best['value']:.4f} ({best['percent']:.1f}%) at epoch {best['epoch']}"
            if final is not None:
                text += f", final {final:.4f}"
            ref = snap.get("reference") or {}
            if best.get("gap_to_reference") is not None:
                text += f", {best['gap_to_reference']:+.1f} points against the reference {best['reference_ap']:g}"
            elif ref.get("final") is not None:
                text += f", reference {ref.get('name') or ''} final {ref['final']:.4f}".replace("  ", " ")
        else:
            text += " (no mAP was logged)"
        self.raise_event("finished", text, {"best": best or None, "final": final, "exit_code": 0,
                                            "reference_ap": self.reference_ap})

    def _failed(self, snap: dict[str, Any], code: int | None) -> None:
        failure = snap.get("rank_failure") or rank_failure.read_rank_failure(self.run_dir)
        first_error = (snap.get("errors") or {}).get("first_error_line")
        why = failure["summary"] if failure else (
            f"exit code {code}" if code is not None else "its launch script was killed (no exit status)")
        text = f"job {self.name} ({self.job_id}) failed: {why}"
        if first_error and (not failure or first_error not in why):
            text += f"; first error: {first_error.strip()}"
        details = {"exit_code": code, "first_error_line": first_error}
        if failure:
            details.update({k: failure.get(k) for k in ("rank", "local_rank", "host", "exitcode", "signal")})
        self.raise_event("failed", text, details)


def _job_name(job_id: str) -> str | None:
    from launcher.jobs import registry

    try:
        return registry.load(job_id).name
    except Exception:  # the registry may live on another host's disk (SLURM)
        return None


def _process(pid: int | None) -> psutil.Process | None:
    try:
        return psutil.Process(pid) if pid else None
    except psutil.Error:
        return None


def _alive(proc: psutil.Process) -> bool:
    from launcher.jobs import identity

    return identity.is_alive(proc)


def install_signals(sentinel: Sentinel) -> None:
    """SIGTERM (a stop, a SLURM cancel) and SIGINT end the loop at once, through finish(): the
    event says what happened. SIGHUP is ignored: the job outlives a closed terminal, so must its sentinel."""
    def stop(_signum, _frame) -> None:
        sentinel.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
