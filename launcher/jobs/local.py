"""Launch, stop and resume jobs: detached torchrun process groups that outlive the terminal.

torchrun forwards SIGHUP to its workers, so nohup is not enough: a job runs
`bash launch.sh` in a new session (no controlling terminal, its own process
group), stdin from /dev/null and output to files in the run dir. Closing SSH or
the TUI never reaches it. stop() signals that whole group.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from launcher.jobs import identity, launch_journal, registry
from launcher.planning.checklist import FAIL
from launcher.errors import CheckFailed, UserError
from launcher.planning.plan import Plan, PlanRequest, build_command, free_port, make_plan, new_job_id, run_dir_for
from launcher.jobs.registry import JobRecord

LAUNCH_SCRIPT = "launch.sh"


def render_launch_script(plan_or_record_id: str, preset: str, run_dir: Path, command: list[str],
                         env: dict[str, str]) -> str:
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items()))
    return f"""#!/usr/bin/env bash
# frcnn-tui job {plan_or_record_id} (preset {preset}).
# The exact command and environment of this run; `bash {LAUNCH_SCRIPT}` re-runs it by hand,
# `bash {LAUNCH_SCRIPT} --resume` continues from the last checkpoint.
cd {shlex.quote(str(run_dir))} || exit 1
{exports}
{shlex.join(command)} "$@"
rc=$?
echo "$rc" > {shlex.quote(str(run_dir / registry.EXIT_FILE))}
exit "$rc"
"""


def gpu_conflicts(gpu_ids: list[int]) -> list[str]:
    conflicts = []
    for other in registry.load_all():
        overlap = sorted(set(other.gpu_ids) & set(gpu_ids))
        if not other.cpu and overlap and registry.status(other) == registry.RUNNING:
            conflicts.append(f"GPU {','.join(map(str, overlap))} held by running job {other.id} ({other.name})")
    return conflicts


def _spawn(job_id: str, run_dir: Path, extra_args: list[str]) -> tuple[int, float]:
    stdout = open(run_dir / "stdout.log", "ab")
    stderr = open(run_dir / "stderr.log", "ab")
    with stdout, stderr:
        # launch.sh runs behind a gate that waits for the job's registry entry (launch_journal).
        gate = ["bash", "-c", launch_journal.gate_script(job_id), "frcnn-tui-gate"]
        proc = subprocess.Popen([*gate, str(run_dir / LAUNCH_SCRIPT), *extra_args], cwd=run_dir,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
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
    name = registry.validate_name(req.name) if req.name else None
    work_dir = Path(req.work_dir).expanduser().absolute() if req.work_dir else None
    made_here = work_dir is None or not work_dir.exists()
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
        failing = [c for c in plan.checks if c.status == FAIL]
        if failing and not force:
            raise CheckFailed("launch refused, checklist fails: " + "; ".join(f"{c.id}: {c.detail}" for c in failing)
                              + " (fix it, or --force)")
        if not plan.config_file.is_file():
            raise CheckFailed(f"the resolved config was not written to {plan.config_file}")
        with registry.locked():
            conflicts = gpu_conflicts(plan.gpu_ids) if not plan.cpu else []
            if conflicts and not force:
                raise CheckFailed("launch refused: " + "; ".join(conflicts) + " (pick other GPUs, or --force)")
            plan_data = plan.to_dict()
            registry.write_atomic(run_dir / "plan.json", json.dumps(plan_data, indent=2, default=str))
            registry.write_atomic(run_dir / LAUNCH_SCRIPT,
                                  render_launch_script(job_id, plan.preset.name, run_dir, plan.command, plan.env))
            for stale in (registry.EXIT_FILE, registry.STOP_FILE):
                (run_dir / stale).unlink(missing_ok=True)
            spawned = pid, create_time = _spawn(job_id, run_dir, [])
            record = JobRecord(
                id=job_id, name=name or plan.preset.name, preset=plan.preset.name, run_dir=str(run_dir),
                gpu_ids=plan.gpu_ids, cpu=plan.cpu, nproc_per_node=plan.nproc_per_node, nodes=plan.proposal.nodes,
                pid=pid, pgid=pid, create_time=create_time, started_at=time.time(), port=plan.port,
                command=plan.command, python=plan.python, reference_ap=plan.preset.reference_ap,
                max_epochs=plan.preset.epochs if not plan.inspection.get("config", {}).get("summary") else
                plan.inspection["config"]["summary"].get("max_epochs"))
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


def stop(record: JobRecord, grace: float = 30.0) -> int:
    """SIGTERM the job's whole process group (every rank, every dataloader worker),
    SIGKILL what is left after `grace` seconds. Returns how many processes it found."""
    procs = registry.job_processes(record)
    if not procs:
        return 0
    (record.run_path / registry.STOP_FILE).write_text(str(time.time()))
    try:
        os.killpg(record.pgid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass
    for proc in procs:  # any that left the group
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    if alive:
        try:
            os.killpg(record.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=5)
    # Workers may spawn late children while dying; sweep until none is left.
    deadline = time.time() + 5
    while (left := registry.job_processes(record)) and time.time() < deadline:
        for proc in left:
            try:
                proc.kill()
            except psutil.Error:
                pass
        time.sleep(0.2)
    return len(procs)


def resume(record: JobRecord, *, nproc: int | None = None) -> JobRecord:
    """Restart from work_dir/last_checkpoint with the same resolved config and plan."""
    if registry.status(record) == registry.RUNNING:
        raise UserError(f"job {record.id} is still running")
    run_dir = record.run_path
    if not (run_dir / "last_checkpoint").is_file():
        raise UserError(f"job {record.id} has no checkpoint to resume from ({run_dir / 'last_checkpoint'} is missing)")
    plan_path = run_dir / "plan.json"
    try:
        plan_data = json.loads(plan_path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {plan_path}: {exc}") from None
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
            registry.write_atomic(plan_path, json.dumps(plan_data, indent=2, default=str))
        if record.nodes == 1:
            # A fresh port: the old one may have been taken since the job stopped.
            record.port = free_port()
            command, env = build_command(record.python, cpu=record.cpu, gpu_ids=record.gpu_ids[:new_nproc],
                                         nproc=new_nproc, nodes=1, node_rank=0, master_addr=None, port=record.port,
                                         config_file=run_dir / "config.py", run_dir=run_dir)
            (run_dir / LAUNCH_SCRIPT).write_text(render_launch_script(record.id, record.preset, run_dir, command, env))
            record.nproc_per_node, record.command = new_nproc, command
        for stale in (registry.EXIT_FILE, registry.STOP_FILE):
            (run_dir / stale).unlink(missing_ok=True)
        pid, create_time = _spawn(record.id, run_dir, ["--resume"])
        record.pid, record.pgid, record.create_time = pid, pid, create_time
        record.resumes += 1
        registry.save(record)
    return record
