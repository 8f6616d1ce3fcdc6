"""The local backend (backends.Backend): jobs run on this host as detached torchrun process
groups that outlive the terminal.

torchrun forwards SIGHUP to its workers, so nohup is not enough: a job runs
`bash launch.sh` in a new session (no controlling terminal, its own process
group), stdin from /dev/null and output to files in the run dir. Closing SSH or
the TUI never reaches it. Every process of a job carries its marker (identity.py):
stop() signals only those, and the group only while its leader is proven the job's.
Its status: alive while its leader is provably the job's, else the exit file launch.sh writes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from typing import Any

from launcher.jobs import backends, checkpoint_stop, identity, launch_journal, launching, registry, shell, status_words
from launcher.monitor import attempt_notes
from launcher.sentinel import notify
from launcher.sentinel import start as sentinel_start
from launcher.errors import CheckFailed, UserError
from launcher.planning.plan import Plan, PlanRequest, build_command, free_port, make_plan, new_job_id, run_dir_for
from launcher.jobs.registry import JobRecord
from launcher import run_files

LAUNCH_SCRIPT = run_files.LAUNCH_SCRIPT


def render_launch_script(job_id: str, preset: str, run_dir: Path, command: list[str], env: dict[str, str]) -> str:
    # Every value is user input (names, paths, the interpreter): launcher.jobs.shell keeps it data.
    return "\n".join([
        "#!/usr/bin/env bash",
        shell.comment(f"frcnn-tui job {job_id} (preset {preset})."),
        shell.comment(f"The exact command and environment of this run; `bash {LAUNCH_SCRIPT}` re-runs it by hand,"),
        shell.comment(f"`bash {LAUNCH_SCRIPT} --resume` continues from the last checkpoint."),
        f"cd {shell.word(run_dir)} || exit 1",
        shell.exports({**env, **identity.marker_env(job_id)}),
        *sentinel_start.script_start(job_id, run_dir),
        *checkpoint_stop.script_start(),
        f'{shell.words(command)} "$@"',
        "rc=$?",
        *checkpoint_stop.script_status(),
        f'echo "$rc" > {shell.word(run_dir / registry.EXIT_FILE)}',
        *sentinel_start.script_end(),
        'exit "$rc"',
    ]) + "\n"


def gpu_conflicts(gpu_ids: list[int]) -> list[str]:
    """Running jobs of this host that hold any of GPU_IDS (another host's GPUs are other GPUs;
    a record whose pid now belongs to someone else holds nothing)."""
    conflicts = []
    for other in registry.load_all():
        overlap = sorted(set(other.gpu_ids) & set(gpu_ids))
        if not other.cpu and overlap and identity.leader(other) is not None:
            conflicts.append(f"GPU {','.join(map(str, overlap))} held by running job {other.id} ({other.name})")
    return conflicts


def _spawn(job_id: str, run_dir: Path, extra_args: list[str]) -> tuple[int, float]:
    stdout = open(run_dir / run_files.STDOUT, "ab")
    stderr = open(run_dir / run_files.STDERR, "ab")
    with stdout, stderr:
        # The leader carries the marker from its first instruction (launch.sh exports it again
        # for its children and for hand-run copies).
        # launch.sh runs behind a gate that waits for the job's registry entry (launch_journal).
        gate = ["bash", "-c", launch_journal.gate_script(job_id), "frcnn-tui-gate"]
        proc = subprocess.Popen([*gate, str(run_dir / LAUNCH_SCRIPT), *extra_args], cwd=run_dir,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True,
                                env={**os.environ, **identity.marker_env(job_id)})
    # A long-lived parent (the TUI) must reap it, or it lingers as a zombie.
    threading.Thread(target=proc.wait, daemon=True).start()
    try:
        create_time = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:  # ended already (bash could not even start torchrun)
        create_time = time.time()
    return proc.pid, create_time


def launch(req: PlanRequest, *, force: bool = False) -> tuple[JobRecord, Plan]:
    """Plan, write the run dir, spawn, register. A launch killed between any two steps leaves
    no half state (launch_journal); a failing one (a refused check, a full disk) leaves nothing."""
    opening = launching.open_launch(req, force=force)
    name, made_here = opening.name, opening.made_here
    job_id = new_job_id()
    run_dir = run_dir_for(req, job_id)
    spawned: tuple[int, float] | None = None
    registered = False
    try:
        with registry.locked():
            launch_journal.sweep()
            launch_journal.begin(job_id, run_dir, made_here)
        launch_journal.pause_point("before-run-dir", job_id, run_dir)
        plan = make_plan(req, dump=True, job_id=job_id)
        launch_journal.pause_point("after-run-dir", job_id, run_dir)
        launching.refuse(plan, force=force)
        with registry.locked():
            conflicts = gpu_conflicts(plan.gpu_ids) if not plan.cpu else []
            if conflicts and not force:
                raise CheckFailed("launch refused: " + "; ".join(conflicts) + " (pick other GPUs, or --force)")
            plan_data = dict(plan.to_dict(), **notify.plan_entry(req))
            run_files.write_plan(run_dir, plan_data)
            registry.write_atomic(run_dir / LAUNCH_SCRIPT,
                                  render_launch_script(job_id, plan.preset.name, run_dir, plan.command, plan.env))
            launching.clear_stale(run_dir)
            spawned = pid, create_time = _spawn(job_id, run_dir, [])
            record = JobRecord(
                id=job_id, name=name or plan.preset.name, preset=plan.preset.name, run_dir=str(run_dir),
                gpu_ids=plan.gpu_ids, cpu=plan.cpu, nproc_per_node=plan.nproc_per_node, nodes=plan.proposal.nodes,
                pid=pid, pgid=pid, create_time=create_time, started_at=time.time(), port=plan.port,
                command=plan.command, python=plan.python, reference_ap=plan.preset.reference_ap,
                max_epochs=launching.max_epochs(plan))
            launch_journal.pause_point("before-registry", job_id, run_dir)
            registry.save(record)  # from here on the job is whole: its gate opens
            registered = True
        launch_journal.end(job_id)
        launch_journal.pause_point("after-registry", job_id, run_dir)
    except OSError as exc:  # a full disk, a read-only state dir: one line, nothing left half-made
        raise UserError(f"launch failed, nothing was started: {exc.strerror or exc}"
                        + (f": {exc.filename}" if exc.filename else "")) from None
    finally:
        if not registered:
            if spawned:
                _end_gated_leader(*spawned)
            launch_journal.discard(run_dir, made_here)
            launch_journal.end(job_id)
    return record, plan


def _end_gated_leader(pid: int, create_time: float) -> None:
    """The leader of a job that was never registered still waits at its gate, having started
    nothing: end it (checked to be that very process first)."""
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - create_time) < identity.CREATE_TIME_TOLERANCE_S:
            proc.kill()
    except psutil.Error:
        pass


def _signal_each(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        try:
            proc.send_signal(sig)  # psutil checks the pid still names the same process first
        except psutil.Error:
            pass


def not_running_reason(record: JobRecord) -> str:
    """The status of a job none of whose processes is alive, and who holds its pid now."""
    reason = status(record)
    if not identity.is_local(record):
        return f"{reason}, on host {record.host}"
    try:
        holder = psutil.Process(record.pid)
        reason += f"; pid {record.pid} now belongs to another process ({holder.name()}), left alone"
    except (psutil.Error, ValueError, OverflowError):
        pass
    return reason


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of PROCS still alive after TIMEOUT. A zombie counts as gone: who reaps an orphaned
    worker (init, a container's pid 1) and how fast is not the job's business."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in procs if identity.is_alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def stop(record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> int:
    """SIGTERM every process provably the job's (its marker, its host: identity.py), SIGKILL
    what is left after `grace` seconds. Returns how many processes it found. A record whose
    pid or pgid now belongs to something else finds none and signals nothing.
    With checkpoint_wait, the job is first asked to checkpoint at its next iteration and exit
    (checkpoint_stop); only what is still alive after that many seconds gets the signals."""
    if not identity.is_local(record):
        raise CheckFailed(identity.elsewhere_message(record))
    procs = identity.job_processes(record)
    if not procs:
        return 0
    (record.run_path / registry.STOP_FILE).write_text(str(time.time()))
    attempt_notes.note_stop(record.run_path)  # before the signals: their tracebacks are the stop's
    found = len(procs)
    if checkpoint_wait is not None:
        checkpoint_stop.request(record.run_path, "stop")
        procs = _wait_gone(procs, checkpoint_wait)  # the job ends by itself once saved
    # The group reaches children forked since the listing; only while its leader is proven.
    identity.signal_group_if_proven(record, signal.SIGTERM)
    _signal_each(procs, signal.SIGTERM)
    # A stopped process (a rank someone SIGSTOPped, a job suspended with ctrl+z) holds the TERM
    # until it runs again: continue it, so it ends now, not a whole grace later by SIGKILL.
    identity.signal_group_if_proven(record, signal.SIGCONT)
    _signal_each(procs, signal.SIGCONT)
    alive = _wait_gone(procs, grace)
    if alive:
        identity.signal_group_if_proven(record, signal.SIGKILL)
        _signal_each(alive, signal.SIGKILL)
        _wait_gone(alive, 5)
    # Workers may spawn late children while dying; sweep until none is left.
    deadline = time.time() + 5
    while (left := identity.job_processes(record)) and time.time() < deadline:
        _signal_each(left, signal.SIGKILL)
        time.sleep(0.2)
    return found


def status(record: JobRecord) -> str:
    if identity.leader(record) is not None:  # alive and provably the job's
        return status_words.RUNNING
    code = run_files.read_exit_status(record.run_path)
    if code is None and not identity.is_local(record):
        # Another host's job: its processes cannot be seen from here, only the exit file
        # launch.sh writes in the (shared) run dir, which is not there yet.
        return status_words.RUNNING
    if code == 0:
        return status_words.SUCCEEDED
    # A checkpoint on request (75) is a stop whoever asked: `stop --checkpoint` leaves the stop file,
    # a request signal sent to a rank by hand or a request file written by a script do not.
    if code == checkpoint_stop.CHECKPOINT_EXIT or (record.run_path / registry.STOP_FILE).exists():
        return status_words.STOPPED
    return status_words.FAILED


class LocalBackend(backends.Backend):
    """A job on this host (or another host sharing the run dir): torchrun under launch.sh."""

    name = registry.LOCAL

    def plan(self, req: PlanRequest, target: Any, *, inventory: Any = None, catalog: Any = None,
             dump: bool = False) -> Plan:
        return make_plan(req, inventory=inventory, catalog=catalog, dump=dump)

    def launch(self, req: PlanRequest, target: Any, *, force: bool = False) -> tuple[JobRecord, Plan]:
        return launch(req, force=force)

    def launched(self, record: JobRecord) -> list[str]:
        return [f"launched job {record.id} ({record.name}), pid {record.pid}, run dir {record.run_dir}",
                f"  watch: frcnn-tui watch {record.id}    stop: frcnn-tui stop {record.id}"]

    def status(self, record: JobRecord) -> str:
        return status(record)

    def devices(self, record: JobRecord) -> str:
        return f"cpu×{record.nproc_per_node}" if record.cpu else "gpu " + ",".join(map(str, record.gpu_ids))

    def placement(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        return f"CPU × {record.nproc_per_node} gloo" if record.cpu else "GPU " + ",".join(map(str, record.gpu_ids))

    def where(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        return f"pid {record.pid}"

    def nothing_to_stop(self, record: JobRecord) -> str | None:
        if not identity.is_local(record) and status(record) == status_words.RUNNING:
            raise CheckFailed(identity.elsewhere_message(record))  # never signalled from here
        if identity.job_processes(record):
            return None
        # Whatever holds the recorded pid or pgid now is not the job's: it is left alone.
        return f"job {record.id} is not running ({not_running_reason(record)}); nothing was signalled"

    def stop(self, record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> tuple[int, int]:
        found = stop(record, grace=grace, checkpoint_wait=checkpoint_wait)
        return found, len(identity.job_processes(record))

    def stopped_words(self, record: JobRecord, found: int) -> str:
        return f"{found} process(es) signalled"

    def stop_means(self, record: JobRecord, grace: float) -> str:
        return f"SIGTERM to every process of job {record.id} ({record.name}), SIGKILL after {grace:g} s."

    def stop_resume_note(self) -> str:
        return "It can be resumed later from its last checkpoint (the epoch's)."

    def _refuse_resume(self, record: JobRecord, nproc: int | None) -> None:
        if not identity.is_local(record):
            raise UserError(identity.elsewhere_message(record))
        if status(record) == status_words.RUNNING:
            raise UserError(f"job {record.id} is still running")
        if left := identity.marked_processes(record.id):
            raise UserError(f"job {record.id} still has {len(left)} process(es) alive (pid "
                            f"{', '.join(str(p.pid) for p in left[:5])}): frcnn-tui stop {record.id} first")

    def _resume(self, record: JobRecord, nproc: int | None) -> JobRecord:
        """Restart from work_dir/last_checkpoint with the same resolved config and plan."""
        run_dir = record.run_path
        plan_data = run_files.read_plan_checked(run_dir)
        with registry.locked():
            new_nproc = nproc or record.nproc_per_node
            if new_nproc != record.nproc_per_node:
                # The lr is restored from the checkpoint's optimizer state, whatever the new
                # world size: say so, since the linear rule would want another lr.
                old_ws, new_ws = record.nproc_per_node * record.nodes, new_nproc * record.nodes
                lr = float(plan_data.get("lr") or 0)
                plan_data.setdefault("resume_notes", []).append(
                    f"resumed with world size {new_ws} instead of {old_ws}: the lr ({lr:g}) comes from the checkpoint "
                    f"and is NOT rescaled; the linear rule would give {lr * new_ws / old_ws:.6g}")
                run_files.write_plan(run_dir, plan_data)
            if record.nodes == 1:
                # A fresh port: the old one may have been taken since the job stopped.
                record.port = free_port()
                command, env = build_command(record.python, cpu=record.cpu, gpu_ids=record.gpu_ids[:new_nproc],
                                             nproc=new_nproc, nodes=1, node_rank=0, master_addr=None, port=record.port,
                                             config_file=run_dir / run_files.CONFIG, run_dir=run_dir)
                (run_dir / LAUNCH_SCRIPT).write_text(render_launch_script(record.id, record.preset, run_dir, command, env))
                record.nproc_per_node, record.command = new_nproc, command
            launching.clear_stale(run_dir)
            attempt_notes.note_resume(run_dir, attempt=record.resumes + 2)
            pid, create_time = _spawn(record.id, run_dir, ["--resume"])
            record.pid, record.pgid, record.create_time = pid, pid, create_time
            record.resumes += 1
            registry.save(record)
        return record
