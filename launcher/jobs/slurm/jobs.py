"""The SLURM backend (backends.Backend): launch, status, stop and resume of a job that SLURM
runs, recorded in the same registry.

A SLURM job's record has backend "slurm", its SLURM job id and its run dir (the MMEngine work
dir, shared with the compute nodes). Its status comes from SLURM (scontrol, then sacct where
accounting is on), else from the exit status the batch script writes; `stop` is scancel and
waits until the job has left the queue; `resume` submits the same script with --resume.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

from launcher.errors import UserError
from launcher.hardware.gpu_probe import GPUInfo, Inventory
from launcher.jobs import backends, identity, launching, registry, status_words
from launcher.jobs.registry import JobRecord
from launcher.jobs.slurm import cluster, state
from launcher.jobs.slurm.checks import cluster_checks
from launcher.jobs.slurm.script import REQUEUE_FILE, SCRIPT, SlurmSpec, render
from launcher.monitor import attempt_notes
from launcher.planning.plan import Plan, PlanRequest, make_plan
from launcher.sentinel import notify, slurm_queue
from launcher import run_files

# SLURM's own SIGTERM -> SIGKILL wait on cancel (KillWait, 30 s by default) plus the epilog.
LEAVE_QUEUE_S = 90.0


def plan_for(req: PlanRequest, spec: SlurmSpec, *, dump: bool = True) -> Plan:
    """The same plan as a local launch (lr over nodes x tasks per node x images, resolved config,
    checklist), for SLURM's allocation instead of this host, plus the cluster's checklist items.
    REQ is left as it was: the plan gets a copy sized by SPEC."""
    # The spec says how many devices per node; which ones is SLURM's choice on each node.
    sized = dict(nodes=spec.nodes, gpu_ids=None)
    if spec.cpu:
        sized.update(cpu=True, nproc=spec.tasks_per_node, gpus=None)
        allocated = Inventory(gpus=[], error="CPU tasks under srun", source="slurm")
    else:
        sized.update(cpu=False, gpus=spec.tasks_per_node)
        # This host's GPUs are irrelevant: SLURM allocates free ones on each node.
        allocated = Inventory(gpus=[GPUInfo(index=i, name="allocated by SLURM", processes=[])
                                    for i in range(spec.tasks_per_node)], source="slurm")
    if spec.nodes > 1:
        # make_plan wants a rendezvous for several nodes; the script sets the real one per job.
        sized.update(master_addr=req.master_addr or "slurm", port=req.port or 29500)
    plan = make_plan(dataclasses.replace(req, **sized), inventory=allocated, dump=dump)
    # No port check: each SLURM job's script picks its own rendezvous port on its first node.
    plan.checks = [c for c in plan.checks if c.id != "port"] + cluster_checks(spec)
    return plan


def write_files(plan: Plan, spec: SlurmSpec, job_name: str) -> Path:
    """plan.json (with the SLURM request) and the batch script in the run dir; returns the script."""
    data = dict(plan.to_dict(), slurm=spec.to_dict(), **notify.plan_entry(plan.request))
    run_files.write_plan(plan.run_dir, data)
    script = plan.run_dir / SCRIPT
    script.write_text(render(plan, spec, job_name=job_name))
    script.chmod(0o700)
    return script


def _fresh_run_files(run_dir: Path) -> None:
    launching.clear_stale(run_dir)
    # The logs exist from the start, so `logs` and `watch` work while the job is pending.
    for log in run_files.LOGS:
        (run_dir / log).touch()


def launch(req: PlanRequest, spec: SlurmSpec, *, force: bool = False) -> tuple[JobRecord, Plan]:
    """Plan, check, write the script and sbatch it; the job is in the registry once SLURM took it."""
    cluster.require_sbatch()
    opening = launching.open_launch(req, force=force)
    name, made_here = opening.name, opening.made_here
    plan = plan_for(req, spec)
    try:
        launching.refuse(plan, force=force)
        script = write_files(plan, spec, name or plan.preset.name)
        _fresh_run_files(plan.run_dir)
        slurm_id = cluster.submit(str(script))
    except BaseException:
        if made_here:  # a refused launch leaves nothing behind
            shutil.rmtree(plan.run_dir, ignore_errors=True)
        raise
    record = JobRecord(
        id=plan.job_id, name=name or plan.preset.name, preset=plan.preset.name, run_dir=str(plan.run_dir),
        gpu_ids=[], cpu=plan.cpu, nproc_per_node=spec.tasks_per_node, nodes=spec.nodes, pid=0, pgid=0,
        create_time=0.0, started_at=time.time(), port=0, command=["sbatch", str(script)], python=plan.python,
        reference_ap=plan.preset.reference_ap, max_epochs=launching.max_epochs(plan),
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


class SlurmBackend(backends.Backend):
    """A job SLURM runs: sbatch submits it, SLURM's state says its status, scancel stops it."""

    name = registry.SLURM
    stop_checkpoint_choice = False  # its ranks take scancel's SIGTERM as a checkpoint request (exact_resume)
    details_follow_status = True  # a requeue passes by pending: its state and restarts change with the status
    late_events_s = 2 * slurm_queue.POLL_S  # the queue sentinel's last word comes within two of its polls

    def plan(self, req: PlanRequest, target: SlurmSpec, *, inventory: Any = None, catalog: Any = None,
             dump: bool = False) -> Plan:
        return plan_for(req, target, dump=dump)  # SLURM's allocation, not this host's inventory

    def launch(self, req: PlanRequest, target: SlurmSpec, *, force: bool = False) -> tuple[JobRecord, Plan]:
        return launch(req, target, force=force)

    def launched(self, record: JobRecord) -> list[str]:
        return [f"submitted job {record.id} ({record.name}) as SLURM job {record.slurm_job_id}, run dir {record.run_dir}",
                f"  watch: frcnn-tui watch {record.id}    stop: frcnn-tui stop {record.id}    "
                f"resume: frcnn-tui resume {record.id}"]

    def status(self, record: JobRecord) -> str:
        return state.status(record)  # asks the cluster

    def details(self, record: JobRecord) -> dict[str, Any]:
        return details(record)

    def devices(self, record: JobRecord) -> str:
        per_node = f"cpu×{record.nproc_per_node}" if record.cpu else f"gpu×{record.nproc_per_node}"
        return f"slurm {record.nodes}×{per_node}"

    def placement(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        return f"{self.devices(record)} · {self._job(record, details)} {(details or {}).get('slurm_state') or ''}".rstrip()

    def where(self, record: JobRecord, details: dict[str, Any] | None = None) -> str:
        if details is None:
            return self._job(record)
        return f"{self._job(record, details)} · {details.get('slurm_state') or '?'}"

    @staticmethod
    def _job(record: JobRecord, details: dict[str, Any] | None = None) -> str:
        # A resume submits a new SLURM job: details read since may name it before the record does.
        return f"SLURM job {(details or {}).get('slurm_job_id') or record.slurm_job_id}"

    def nothing_to_stop(self, record: JobRecord) -> str | None:
        if cluster.in_queue(record.slurm_job_id or "") is not False:
            return None
        return f"job {record.id} is not in SLURM's queue ({state.status(record)}); nothing was cancelled"

    def stop(self, record: JobRecord, grace: float = 30.0, *, checkpoint_wait: float | None = None) -> tuple[int, int]:
        return stop(record, grace=grace)  # it always checkpoints: scancel's SIGTERM is the request

    def stopped_words(self, record: JobRecord, found: int) -> str:
        return f"{self._job(record)} cancelled"

    def stop_means(self, record: JobRecord, grace: float) -> str:
        return f"scancel of {self._job(record)} (job {record.id}, {record.name}); waits until it has left the queue."

    def stop_resume_note(self) -> str:
        return "Its ranks checkpoint at their next iteration first; resume continues there."

    def _refuse_resume(self, record: JobRecord, nproc: int | None) -> None:
        current = state.status(record)
        if current in status_words.ACTIVE:
            raise UserError(f"job {record.id} is still {current} (SLURM job {record.slurm_job_id})")
        if nproc is not None and nproc != record.nproc_per_node:
            raise UserError(f"a SLURM job resumes with its own {record.nproc_per_node} task(s) per node; "
                            f"launch a new one for another size")

    def _resume(self, record: JobRecord, nproc: int | None) -> JobRecord:
        """Submit the job's own script again with --resume: it continues from work_dir/last_checkpoint
        under a new SLURM job id (same config, same tasks, same lr)."""
        run_dir = record.run_path
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
