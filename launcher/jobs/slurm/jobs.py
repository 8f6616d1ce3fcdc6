"""Launch, status, stop and resume of a job that SLURM runs, recorded in the same registry.

A SLURM job's record has backend "slurm", its SLURM job id and its run dir (the MMEngine work
dir, shared with the compute nodes). Its status comes from SLURM (scontrol, then sacct where
accounting is on), else from the exit status the batch script writes; `stop` is scancel and
waits until the job has left the queue; `resume` submits the same script with --resume.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from launcher.errors import CheckFailed, UserError
from launcher.hardware.gpu_probe import GPUInfo, Inventory
from launcher.jobs import identity, registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.jobs.slurm import cluster, state
from launcher.jobs.slurm.checks import cluster_checks
from launcher.jobs.slurm.script import REQUEUE_FILE, SCRIPT, SlurmSpec, render
from launcher.monitor import attempt_notes
from launcher.planning.checklist import FAIL
from launcher.planning.plan import Plan, PlanRequest, make_plan
from launcher.sentinel import notify, slurm_queue
from launcher import run_files

# SLURM's own SIGTERM -> SIGKILL wait on cancel (KillWait, 30 s by default) plus the epilog.
LEAVE_QUEUE_S = 90.0


def plan_for(req: PlanRequest, spec: SlurmSpec, *, dump: bool = True) -> Plan:
    """The same plan as a local launch (lr over nodes x tasks per node x images, resolved config,
    checklist), for SLURM's allocation instead of this host, plus the cluster's checklist items."""
    # The spec says how many devices per node; which ones is SLURM's choice on each node.
    req.nodes, req.gpu_ids = spec.nodes, None
    if spec.cpu:
        req.cpu, req.nproc, req.gpus = True, spec.tasks_per_node, None
        allocated = Inventory(gpus=[], error="CPU tasks under srun", source="slurm")
    else:
        req.cpu, req.gpus = False, spec.tasks_per_node
        # This host's GPUs are irrelevant: SLURM allocates free ones on each node.
        allocated = Inventory(gpus=[GPUInfo(index=i, name="allocated by SLURM", processes=[])
                                    for i in range(spec.tasks_per_node)], source="slurm")
    if spec.nodes > 1:
        # make_plan wants a rendezvous for several nodes; the script sets the real one per job.
        req.master_addr, req.port = req.master_addr or "slurm", req.port or 29500
    plan = make_plan(req, inventory=allocated, dump=dump)
    plan.checks = [c for c in plan.checks if c.id != "port"] + cluster_checks(spec)
    return plan


def refuse_failing(plan: Plan) -> None:
    failing = [c for c in plan.checks if c.status == FAIL]
    if failing:
        raise CheckFailed("checklist fails: " + "; ".join(f"{c.id}: {c.detail}" for c in failing)
                          + " (fix it, or --force)")


def write_files(plan: Plan, spec: SlurmSpec, job_name: str) -> Path:
    """plan.json (with the SLURM request) and the batch script in the run dir; returns the script."""
    data = dict(plan.to_dict(), slurm=spec.to_dict(), **notify.plan_entry(plan.request))
    run_files.write_plan(plan.run_dir, data)
    script = plan.run_dir / SCRIPT
    script.write_text(render(plan, spec, job_name=job_name))
    script.chmod(0o700)
    return script


def _fresh_run_files(run_dir: Path) -> None:
    for stale in (run_files.EXIT_STATUS, run_files.STOP_REQUESTED, run_files.REQUEUE):
        (run_dir / stale).unlink(missing_ok=True)
    # The logs exist from the start, so `logs` and `watch` work while the job is pending.
    for log in run_files.LOGS:
        (run_dir / log).touch()


def launch(req: PlanRequest, spec: SlurmSpec, *, force: bool = False) -> tuple[JobRecord, Plan]:
    """Plan, check, write the script and sbatch it; the job is in the registry once SLURM took it."""
    from launcher.jobs.local import check_work_dir

    cluster.require_sbatch()
    name = registry.validate_name(req.name) if req.name else None
    work_dir = Path(req.work_dir).expanduser().absolute() if req.work_dir else None
    if work_dir is not None:
        check_work_dir(work_dir, force=force)
    made_here = work_dir is None or not work_dir.exists()
    plan = plan_for(req, spec)
    try:
        if not force:
            refuse_failing(plan)
        if not plan.config_file.is_file():
            raise CheckFailed(f"the resolved config was not written to {plan.config_file}")
        script = write_files(plan, spec, name or plan.preset.name)
        _fresh_run_files(plan.run_dir)
        slurm_id = cluster.submit(str(script))
    except BaseException:
        if made_here:  # a refused launch leaves nothing behind
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    summary = plan.resolved
    record = JobRecord(
        id=plan.job_id, name=name or plan.preset.name, preset=plan.preset.name, run_dir=str(plan.run_dir),
        gpu_ids=[], cpu=plan.cpu, nproc_per_node=spec.tasks_per_node, nodes=spec.nodes, pid=0, pgid=0,
        create_time=0.0, started_at=time.time(), port=0, command=["sbatch", str(script)], python=plan.python,
        reference_ap=plan.preset.reference_ap, max_epochs=summary.get("max_epochs", plan.preset.epochs),
        backend=registry.SLURM, slurm_job_id=slurm_id)
    with registry.locked():
        registry.save(record)
    slurm_queue.start(plan.run_dir, record.id, slurm_id)  # pending/requeued/timeout while nobody watches
    return record, plan


def details(record: JobRecord) -> dict[str, Any]:
    """SLURM's side of a job for the views: its id, state line (with the pending reason), restarts,
    and why its script requeued it or did not (a checkpoint on the warning, --max-restarts reached)."""
    info = state.job_info(record)
    try:
        requeue = (record.run_path / REQUEUE_FILE).read_text().strip() or None
    except OSError:
        requeue = None
    line = state.describe(info) + (f"; {requeue}" if requeue else "")
    return {"slurm_job_id": record.slurm_job_id, "slurm_state": line, "requeue": requeue,
            "slurm_reason": info.reason if info else None, "restarts": info.restarts if info else None,
            "slurm_expected_start": info.expected_start if info else None}


def _local_processes(record: JobRecord) -> list:
    """The job's processes on this host (a single-node cluster on this machine): they carry its marker."""
    return identity.marked_processes(record.id)


def stop(record: JobRecord, grace: float = 30.0) -> tuple[int, int]:
    """scancel the job and wait until it has left the queue (and its processes here are gone).
    Returns (jobs cancelled, jobs or processes left). SLURM itself sends SIGTERM, then SIGKILL
    after its KillWait; `grace` only extends how long this waits for that."""
    job_id = record.slurm_job_id or ""
    queued = cluster.in_queue(job_id)
    if queued is False:
        return 0, 0
    registry.write_atomic(record.run_path / registry.STOP_FILE, str(time.time()))
    attempt_notes.note_stop(record.run_path)  # before the signals: their tracebacks are the stop's
    cluster.cancel(job_id)
    deadline = time.monotonic() + max(grace, LEAVE_QUEUE_S)
    while time.monotonic() < deadline and (cluster.in_queue(job_id) is not False or _local_processes(record)):
        time.sleep(0.5)
    left = (cluster.in_queue(job_id) is not False) + len(_local_processes(record))
    return 1, left


def resume(record: JobRecord, *, nproc: int | None = None) -> JobRecord:
    """Submit the job's own script again with --resume: it continues from work_dir/last_checkpoint
    under a new SLURM job id (same config, same tasks, same lr)."""
    current = state.status(record)
    if current in status_words.ACTIVE:
        raise UserError(f"job {record.id} is still {current} (SLURM job {record.slurm_job_id})")
    if nproc is not None and nproc != record.nproc_per_node:
        raise UserError(f"a SLURM job resumes with its own {record.nproc_per_node} task(s) per node; "
                        f"launch a new one for another size")
    run_dir = record.run_path
    if not (run_dir / run_files.LAST_CHECKPOINT).is_file():
        raise UserError(f"job {record.id} has no checkpoint to resume from ({run_dir / run_files.LAST_CHECKPOINT} is missing)")
    script = run_dir / SCRIPT
    if not script.is_file():
        raise UserError(f"job {record.id} has no batch script ({script} is missing)")
    with registry.locked():
        _fresh_run_files(run_dir)
        attempt_notes.note_resume(run_dir, attempt=record.resumes + 2)
        record.slurm_job_id = cluster.submit(str(script), ["--resume"])
        record.resumes += 1
        registry.save(record)
    slurm_queue.start(run_dir, record.id, record.slurm_job_id)
    return record
