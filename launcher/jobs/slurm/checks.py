"""Checklist items against the cluster, from sinfo: does the job fit anywhere before it is queued?

A job asking for a partition that does not exist, for more GPUs (or CPUs) per node than any node
has, or for longer than the partition allows is either refused by sbatch or left PENDING for
ever (Reason=PartitionConfig / PartitionTimeLimit). These checks say so at plan time.
"""

from __future__ import annotations

from launcher.jobs.slurm import cluster
from launcher.jobs.slurm.script import SlurmSpec
from launcher.planning.checklist import FAIL, PASS, WARN, Check


def _minutes(value: int | None) -> str:
    if value is None:
        return "no limit"
    days, rest = divmod(value, 1440)
    return (f"{days}-" if days else "") + f"{rest // 60:02d}:{rest % 60:02d}:00"


def check_partition(spec: SlurmSpec, parts: dict[str, cluster.Partition]) -> Check:
    part = parts.get(spec.partition)
    if part is None:
        names = ", ".join(sorted(parts)) or "none"
        return Check("slurm-partition", FAIL, f"partition {spec.partition!r} does not exist (partitions: {names})",
                     "pick one with --partition (sinfo lists them)")
    if part.state.lower() != "up":
        return Check("slurm-partition", WARN, f"partition {spec.partition} is {part.state}: jobs queue but do not start",
                     "ask the admins, or pick another partition")
    if spec.nodes > part.total_nodes:
        return Check("slurm-partition", FAIL, f"{spec.nodes} nodes asked, partition {spec.partition} has "
                     f"{part.total_nodes}", "lower --nodes")
    return Check("slurm-partition", PASS, f"partition {spec.partition} is up with {part.total_nodes} node(s)")


def check_node_resources(spec: SlurmSpec, part: cluster.Partition) -> Check:
    """Enough nodes with the GPUs per node (sinfo's GRES) and the CPUs the tasks need."""
    cpus_needed = spec.tasks_per_node * spec.cpus
    gpus_needed = 0 if spec.cpu else spec.tasks_per_node
    fitting = [n for n in part.nodes if n[1] >= cpus_needed and n[2] >= gpus_needed]
    what = (f"{spec.tasks_per_node} task(s) x {spec.cpus} CPU(s)" if spec.cpu else
            f"{gpus_needed} GPU(s) and {cpus_needed} CPUs")
    if len(fitting) >= spec.nodes:
        return Check("slurm-resources", PASS, f"{len(fitting)} node(s) in {part.name} have {what} per node")
    most_gpus = max((n[2] for n in part.nodes), default=0)
    most_cpus = max((n[1] for n in part.nodes), default=0)
    have = f"most per node: {most_cpus} CPUs" + ("" if spec.cpu else f", {most_gpus} GPU(s) (sinfo GRES)")
    return Check("slurm-resources", FAIL, f"{spec.nodes} node(s) with {what} asked, {len(fitting)} in "
                 f"{part.name} have that ({have}): the job would wait for ever",
                 "lower --gpus-per-node / --nproc / --cpus-per-task, or pick another partition")


def check_time(spec: SlurmSpec, part: cluster.Partition) -> Check:
    if not spec.time:
        return Check("slurm-time", PASS, f"no --time: the partition's default ({part.name} allows "
                     f"{_minutes(part.max_time_min)})")
    try:
        asked = cluster.parse_time_minutes(spec.time)
    except ValueError:
        return Check("slurm-time", FAIL, f"--time {spec.time!r} is not a SLURM time",
                     "use MINUTES, HH:MM:SS or D-HH:MM:SS")
    limit = part.max_time_min
    if limit is not None and (asked is None or asked > limit):
        return Check("slurm-time", FAIL, f"--time {spec.time} exceeds partition {part.name}'s limit "
                     f"{_minutes(limit)}", f"ask for at most {_minutes(limit)}, or pick another partition")
    return Check("slurm-time", PASS, f"--time {spec.time} fits {part.name}'s limit ({_minutes(limit)})")


def check_preemption(spec: SlurmSpec) -> Check:
    """What a preemption does to the job: with PreemptMode CANCEL it is cancelled, and the script's
    --requeue does nothing (SLURM's preemption sends SIGTERM, not the warning signal)."""
    found = cluster.preempt_mode(spec.partition)
    restarts = f"the time limit's warning checkpoints and requeues it (at most {spec.max_restarts} restart(s))"
    if found is None:
        return Check("slurm-preemption", WARN, "scontrol did not answer: what a preemption does is not known",
                     "run on a SLURM login node to check it")
    mode, where = found
    if "CANCEL" in mode:
        return Check("slurm-preemption", WARN, f"PreemptMode of {where} is {mode}: a preempted job is cancelled, "
                     f"not requeued (--requeue does nothing); {restarts}",
                     "resume a preempted job by hand (frcnn-tui resume JOB), or pick a partition that requeues")
    if mode == "OFF":
        return Check("slurm-preemption", PASS, f"no preemption on {spec.partition} (PreemptMode OFF); {restarts}")
    return Check("slurm-preemption", PASS, f"PreemptMode of {where} is {mode}: a preempted job comes back and "
                 f"resumes from its last checkpoint; {restarts}")


def cluster_checks(spec: SlurmSpec) -> list[Check]:
    """The cluster's checklist items; one warning when this machine cannot ask the cluster."""
    parts = cluster.partitions() if cluster.available("sinfo") else None
    if parts is None:
        return [Check("slurm-cluster", WARN, "sinfo is not on PATH or does not answer: partition, GPUs per node and "
                      "time limit are not checked", "run on a SLURM login node to check them")]
    checks = [check_partition(spec, parts)]
    part = parts.get(spec.partition)
    if part is not None:
        checks += [check_node_resources(spec, part), check_time(spec, part), check_preemption(spec)]
    return checks
