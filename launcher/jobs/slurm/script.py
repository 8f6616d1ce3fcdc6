"""The sbatch script of a SLURM job, in mmdet's slurm_train.sh layout.

GPU form: one task per GPU (`--ntasks-per-node=G --gres=gpu:G`), `srun python -u train_entry.py
CONFIG --launcher slurm`, so MMEngine takes its ranks from SLURM's variables. CPU form: one task
per gloo worker and no --gres (the training entry initialises gloo from the same variables).

Requeue-safe: `--requeue` lets SLURM put a preempted (or `scontrol requeue`d) job back in the
queue; the script then sees SLURM_RESTART_COUNT > 0 and resumes from the run dir's
last_checkpoint by itself. Output goes to the run dir's stdout.log / stderr.log in append mode,
so a restart adds to the same logs that `watch`, `logs` and the Monitor follow.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from launcher import paths
from launcher.errors import UserError
from launcher.jobs import checkpoint_stop, identity, registry, shell
from launcher.jobs.checkpoint_stop import CHECKPOINT_EXIT
from launcher.stack.exact_resume import REQUEST_FILE
from launcher.planning.plan import Plan
from launcher.sentinel import start as sentinel_start
from launcher import run_files

SCRIPT = run_files.SLURM_SCRIPT
GPU_CPUS_PER_TASK = 5  # mmdet's slurm_train.sh default (CPUS_PER_TASK=5): dataloader workers per GPU
_OPTION = re.compile(r"^--([a-z][a-z0-9-]*)(?:=(.*))?$", re.S)


@dataclass
class SlurmSpec:
    """Where and how big: the sbatch side of a plan (the plan itself has the lr and config)."""

    backend: ClassVar[str] = registry.SLURM  # a launch target: backends.backend_for(spec) is SLURM's
    partition: str
    nodes: int = 1
    tasks_per_node: int = 1  # GPUs per node, or gloo workers per node on CPU
    cpu: bool = False
    cpus_per_task: int | None = None  # default: 5 per GPU task, 1 per CPU task
    time: str | None = None  # SLURM's format; None: the partition's default
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] = field(default_factory=list)  # more directives, each --option[=value]
    # SLURM's warning this many seconds before the time limit: the training checkpoints at its next
    # iteration (an iteration, an evaluation that may be running, and the save on slow storage).
    checkpoint_grace: int = 300
    max_restarts: int = 2  # requeues of this job by its own script (after a checkpoint or a failure)

    @property
    def cpus(self) -> int:
        return self.cpus_per_task or (1 if self.cpu else GPU_CPUS_PER_TASK)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), cpus_per_task=self.cpus)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SlurmSpec":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


def extra_directive(arg: str) -> str:
    """One --sbatch-arg as a #SBATCH line: `--option=value` (value quoted for sbatch) or `--flag`."""
    match = _OPTION.match(arg)
    if not match:
        raise UserError(f"--sbatch-arg takes one sbatch option as --option=value or --flag, got {arg!r}")
    option, value = match.groups()
    return shell.directive(option, value) if value is not None else f"#SBATCH --{option}"


def directives(spec: SlurmSpec, job_name: str, run_dir: str) -> list[str]:
    lines = [shell.directive("job-name", f"frcnn-{job_name}"), shell.directive("partition", spec.partition),
             shell.directive("nodes", spec.nodes), shell.directive("ntasks-per-node", spec.tasks_per_node),
             shell.directive("cpus-per-task", spec.cpus)]
    if not spec.cpu:
        lines.append(shell.directive("gres", f"gpu:{spec.tasks_per_node}"))
    for option, value in (("time", spec.time), ("account", spec.account), ("qos", spec.qos)):
        if value:
            lines.append(shell.directive(option, value))
    lines += ["#SBATCH --requeue", shell.directive("signal", f"B:USR1@{spec.checkpoint_grace}"),
              shell.directive("open-mode", "append"),
              shell.directive("output", f"{run_dir}/stdout.log"), shell.directive("error", f"{run_dir}/stderr.log")]
    return lines + [extra_directive(arg) for arg in spec.sbatch_args]


def render(plan: Plan, spec: SlurmSpec, *, job_name: str | None = None) -> str:
    run_dir = plan.run_dir
    train = [plan.python, "-u", str(paths.package_file("stack/train_entry.py")), str(plan.config_file),
             "--launcher", "slurm", "--work-dir", str(run_dir)]
    if plan.request.amp:
        train.append("--amp")
    # SLURM sets CUDA_VISIBLE_DEVICES per allocation; threads follow the task's CPUs, not this host's.
    env = {k: v for k, v in plan.env.items() if k not in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")}
    if spec.cpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    env.update(identity.marker_env(plan.job_id))  # the job's processes on a node carry its marker
    proposal = plan.proposal
    return "\n".join([
        "#!/usr/bin/env bash",
        *directives(spec, job_name or plan.preset.name, str(run_dir)),
        shell.comment(f"frcnn-tui job {plan.job_id} (preset {plan.preset.name}): lr {proposal.lr:g} = "
                      f"{proposal.formula}"),
        shell.comment(f"{spec.nodes} node(s) x {spec.tasks_per_node} task(s) x {proposal.imgs_per_gpu} image(s); "
                      f"`sbatch {SCRIPT} --resume` continues from the last checkpoint."),
        f"cd {shell.word(run_dir)} || exit 1",
        shell.exports(env),
        'export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"',
        "# The rendezvous of --launcher slurm: the allocation's first node, a port derived from the job id.",
        'if [ "${SLURM_JOB_NUM_NODES:-1}" = 1 ]; then export MASTER_ADDR=127.0.0.1; else',
        '  MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"; export MASTER_ADDR; fi',
        'export MASTER_PORT="$((20000 + SLURM_JOB_ID % 20000))"',
        f"rm -f {shell.word(run_dir / registry.EXIT_FILE)}",
        'echo "frcnn-tui: SLURM job ${SLURM_JOB_ID} on ${SLURM_JOB_NODELIST}, restart ${SLURM_RESTART_COUNT:-0}"',
        "# A requeued job (preemption, scontrol requeue) resumes from its own last checkpoint.",
        "resume=()",
        'if [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] && [ -f last_checkpoint ]; then resume=(--resume); fi',
        *sentinel_start.script_start(plan.job_id, run_dir),  # on the first node, where this script runs
        *checkpoint_stop.script_start(),
        "# SLURM's warning (--signal=B:USR1) reaches this shell only: it asks the training for a checkpoint.",
        f"trap {shell.word(f'echo {checkpoint_stop.SLURM_WARNING} > {REQUEST_FILE}')} USR1",
        f'srun --kill-on-bad-exit=1 {shell.words(train)} "${{resume[@]}}" "$@" &',
        "train=$!",
        "# A trapped signal ends `wait` early: wait again until srun has ended, then take its status.",
        'while kill -0 "$train" 2>/dev/null; do wait "$train"; done',
        'wait "$train"; rc=$?',
        *checkpoint_stop.script_status(),
        f'echo "$rc" > {shell.word(run_dir / registry.EXIT_FILE)}',
        *sentinel_start.script_end(),
        *requeue_lines(spec.max_restarts),
        'exit "$rc"',
    ]) + "\n"


REQUEUE_FILE = run_files.REQUEUE  # why the script requeued its job, or why it did not: `jobs` shows it


def requeue_lines(max_restarts: int) -> list[str]:
    """After a checkpoint on SLURM's warning (exit CHECKPOINT_EXIT) or a failure, the job puts
    itself back in the queue, at most MAX_RESTARTS times (a job failing at start must not requeue
    for ever); a stop (scancel) is never undone. The restart runs this script from the top and
    resumes from last_checkpoint under the same SLURM job id and registry entry."""
    why = f'"a checkpoint on SLURM\'s warning (exit $rc)"'
    return [
        'restarts="${SLURM_RESTART_COUNT:-0}"',
        f'if [ "$rc" != 0 ] && [ ! -f {shell.word(registry.STOP_FILE)} ]; then',
        f'  why="exit $rc"; [ "$rc" = {CHECKPOINT_EXIT} ] && why={why}',
        f'  if [ "$restarts" -lt {int(max_restarts)} ]; then',
        f'    echo "requeued after $why: restart $((restarts + 1)) of at most {int(max_restarts)}" > {REQUEUE_FILE}',
        '    scontrol requeue "$SLURM_JOB_ID"',
        f'  else echo "not requeued after $why: --max-restarts {int(max_restarts)} reached" > {REQUEUE_FILE}; fi',
        "fi",
    ]
