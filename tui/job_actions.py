"""Stop, resume, remove and the reproduction report, shared by the Jobs and Monitor screens: a
confirmation where it matters, then a thread worker around launcher that reports back
with a JobActionDone message."""

from __future__ import annotations

from functools import partial
from typing import Any

from textual.content import Content
from textual.screen import Screen

from launcher.jobs import backends, status_words
from launcher.errors import UserError
from tui.messages import JobActionDone
from tui.screens.dialogs import ConfirmDialog, StopDialog
from tui.threads import run_detached

STOP_GRACE_S = 30
STARTING = "job-start"  # the worker group of launches and resumes (quitting waits for them)


def ask_stop(screen: Screen, record: Any, status: str | None) -> None:
    if status not in status_words.ACTIVE:  # a pending SLURM job can be cancelled too
        screen.notify(f"job {record.id} is not running ({status or 'unknown'}).", severity="warning")
        return
    backend = backends.backend_for(record)
    # What a stop does, in the backend's words; with the choice, "c" asks a checkpoint first
    # (a backend without it checkpoints on every stop: SLURM's ranks on scancel's SIGTERM).
    can_choose = backend.stop_checkpoint_choice
    what = f"{backend.stop_means(record, STOP_GRACE_S)}\n{backend.stop_resume_note()}"
    if can_choose:
        what = "c: checkpoint at the next iteration, then stop; resume continues at that iteration.\ny: " + what
    body = Content(what)

    def answer(choice: bool | str | None) -> None:
        if choice:
            checkpoint = choice == StopDialog.CHECKPOINT
            screen.notify(f"stopping job {record.id}" + (" at its next iteration…" if checkpoint else "…"))
            # Detached: quitting during the grace period must not wait for it (the SIGTERM is sent).
            screen.run_worker(run_detached(_stop, screen, record, checkpoint), group="job-stop", exit_on_error=False)

    dialog = (StopDialog if can_choose else ConfirmDialog)("Stop this job?", body,
                                                           confirm="Stop now" if can_choose else "Stop")
    screen.app.push_screen(dialog, answer)


def _stop(screen: Screen, record: Any, checkpoint: bool = False) -> None:
    from launcher.jobs import checkpoint_stop

    try:
        found, left = backends.stop(record, grace=STOP_GRACE_S,
                                    checkpoint_wait=checkpoint_stop.DEFAULT_WAIT_S if checkpoint else None)
    except Exception as exc:
        screen.post_message(JobActionDone(f"stop {record.id}: {type(exc).__name__}: {exc}", error=True))
        return
    saved = checkpoint_stop.saved(record.run_path) if checkpoint else None
    text = (f"stopped job {record.id} at a checkpoint of iteration {saved['iter']}" if saved else
            f"stopped job {record.id}: {backends.backend_for(record).stopped_words(record, found)}"
            + (" (no checkpoint was written in time)" if checkpoint else ""))
    screen.post_message(JobActionDone(text + (f", {left} left" if left else ""), error=bool(left)))


def ask_remove(screen: Screen, record: Any, status: str | None) -> None:
    """Removes a finished job from the list (launcher.jobs.removal), and its run dir when frcnn-tui made it."""
    from launcher.jobs import removal

    why = removal.refusal(record, status or status_words.UNKNOWN)
    if why:
        screen.notify(why + ".", severity="warning")
        return
    fate = removal.files_fate(record)
    files = ("Its run dir [b]$dir[/] is deleted with it (logs, checkpoints);\n`frcnn-tui rm --keep-files` keeps it."
             if fate == removal.FILES_REMOVED else "Its run dir $dir is $fate.")
    body = Content.from_markup(f"Job [b]$id[/] ($name, $status) leaves the list.\n{files}", id=record.id,
                               name=record.name, status=status or "?", dir=record.run_dir, fate=fate)

    def answer(yes: bool | None) -> None:
        if yes:
            screen.run_worker(run_detached(_remove, screen, record), group="job-remove", exit_on_error=False)

    screen.app.push_screen(ConfirmDialog("Remove this job?", body, confirm="Remove"), answer)


def _remove(screen: Screen, record: Any) -> None:
    from launcher.jobs import removal

    try:
        done = removal.remove(record)
    except UserError as exc:  # it started again meanwhile (a resume), or its run dir would not go
        screen.post_message(JobActionDone(str(exc), error=True))
    except Exception as exc:
        screen.post_message(JobActionDone(f"remove {record.id}: {type(exc).__name__}: {exc}", error=True))
    else:
        screen.post_message(JobActionDone(f"removed job {done.id} ({done.name}); run dir {done.files}"))


def start_resume(screen: Screen, record: Any, status: str | None) -> None:
    if status in status_words.ACTIVE:
        screen.notify(f"job {record.id} is still {status}.", severity="warning")
        return
    # An ordinary thread worker: quitting waits for it, so a resume is never cut between spawn and registry.
    screen.run_worker(partial(_resume, screen, record), thread=True, group=STARTING, exit_on_error=False)


def _resume(screen: Screen, record: Any) -> None:
    try:
        record = backends.resume(record)
    except UserError as exc:
        screen.post_message(JobActionDone(str(exc), error=True))
    except Exception as exc:
        screen.post_message(JobActionDone(f"resume {record.id}: {type(exc).__name__}: {exc}", error=True))
    else:
        where = backends.where(record)
        screen.post_message(JobActionDone(f"resumed job {record.id} from its last checkpoint, {where}"))


def start_report(screen: Screen, record: Any) -> None:
    """Writes <run dir>/report/ (report.md + PNG charts; a running job gets a partial one)."""
    screen.notify(f"writing the report of job {record.id}…")
    # Detached: the charts run in the training interpreter (seconds); quitting need not wait.
    screen.run_worker(run_detached(_report, screen, record), group="job-report", exit_on_error=False)


def _report(screen: Screen, record: Any) -> None:
    from launcher.references.report import write_report

    try:
        result = write_report(record)
    except UserError as exc:
        screen.post_message(JobActionDone(f"report {record.id}: {exc}", error=True))
    except Exception as exc:
        screen.post_message(JobActionDone(f"report {record.id}: {type(exc).__name__}: {exc}", error=True))
    else:
        missing = f" (charts not drawn: {result['chart_error']})" if result["chart_error"] else ""
        partial_note = " (job still running: partial report)" if result["running"] else ""
        screen.post_message(JobActionDone(f"wrote {result['report']}{partial_note}{missing}",
                                          error=bool(result["chart_error"])))
