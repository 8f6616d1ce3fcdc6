"""SLURM on the command line: `launch --slurm ...` (submit and record the job) and `slurm` (write
the batch script only, or --submit it). Status, watch, stop, resume and logs need nothing
SLURM-specific here: they go through the registry and launcher.jobs.backends, and so does
`launch`, once `target` has said where it runs.
"""

from __future__ import annotations

import argparse
from typing import Any

from launcher.cli import arg_types
from launcher.cli.common import add_plan_args, plan_request, print_json
from launcher.errors import UserError

SLURM_COMMAND_GPUS = 8  # `frcnn-tui slurm` without --gpus-per-node: one 8-GPU node, as it always did
_SLURM_ONLY = ("partition", "gpus_per_node", "cpus_per_task", "time", "account", "qos", "sbatch_arg",
               "checkpoint_grace", "max_restarts")


def _add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("SLURM")
    g.add_argument("--partition", help="SLURM partition (sinfo lists them)")
    g.add_argument("--gpus-per-node", type=arg_types.count,
                   help="GPU form: one task per GPU with --launcher slurm (mmdet's slurm_train.sh)")
    g.add_argument("--cpus-per-task", type=arg_types.count,
                   help="CPUs per task (default 5 per GPU task, 1 per CPU task)")
    g.add_argument("--time", help="time limit in SLURM's format (MIN, HH:MM:SS, D-HH:MM:SS)")
    g.add_argument("--account")
    g.add_argument("--qos")
    g.add_argument("--sbatch-arg", action="append", default=[], metavar="--OPTION[=VALUE]",
                   help="one more sbatch option, repeatable; write it as --sbatch-arg=--mem=32G")
    g.add_argument("--checkpoint-grace", type=arg_types.int_range(10), metavar="SECONDS",
                   help="SLURM's warning this long before the time limit: checkpoint at the next iteration, "
                        "then requeue (default 300)")
    g.add_argument("--max-restarts", type=arg_types.int_range(0), metavar="N",
                   help="how often the job requeues itself after a checkpoint or a failure (default 2)")


def spec_from_args(args: argparse.Namespace, *, default_gpus: int | None = None) -> Any:
    """The SLURM side of a command line: partition, nodes, GPU or CPU form, limits. DEFAULT_GPUS:
    GPUs per node when neither --gpus-per-node nor --cpu is given (`slurm` keeps its 8)."""
    from launcher.jobs.slurm.script import SlurmSpec
    from launcher.planning.presets import load_presets

    if not args.partition:
        raise UserError("a SLURM job needs --partition P (sinfo lists them)")
    if args.gpus is not None or args.gpu_ids is not None:
        raise UserError("a SLURM job takes --gpus-per-node G (and --nodes N); SLURM picks the GPUs")
    if args.cpu:
        if args.gpus_per_node is not None:
            raise UserError("use --gpus-per-node G or --cpu --nproc N, not both")
        tasks = args.nproc or load_presets().get(args.preset).default_cpu_workers
    else:
        if args.gpus_per_node is None and default_gpus is None:
            raise UserError("a SLURM job takes --gpus-per-node G, or --cpu --nproc N for CPU tasks")
        if args.nproc is not None:
            raise UserError("--nproc counts CPU workers: with --cpu; on GPUs use --gpus-per-node")
        tasks = args.gpus_per_node or default_gpus
    return SlurmSpec(partition=args.partition, nodes=args.nodes, tasks_per_node=tasks, cpu=args.cpu,
                     cpus_per_task=args.cpus_per_task, time=args.time, account=args.account, qos=args.qos,
                     sbatch_args=list(args.sbatch_arg),
                     **{k: getattr(args, k) for k in ("checkpoint_grace", "max_restarts") if getattr(args, k) is not None})


def refuse_slurm_options(args: argparse.Namespace) -> None:
    """A local launch given a SLURM-only option is a mistake worth one line, not a silent ignore."""
    given = [name for name in _SLURM_ONLY if getattr(args, name, None) not in (None, [])]
    if given:
        raise UserError(f"--{given[0].replace('_', '-')} is a SLURM option: add --slurm")


def target(args: argparse.Namespace) -> Any:
    """Where `launch` runs the job: None for this host (refusing SLURM-only options), else the
    SlurmSpec of --slurm. backends.backend_for(target) is the backend that launches it."""
    if not args.slurm:
        refuse_slurm_options(args)
        return None
    return spec_from_args(args)


def cmd_slurm(args: argparse.Namespace) -> int:
    """Write the batch script (the checklist still gates it); --submit also sbatches and records it."""
    from launcher.jobs import backends, job_status, launching
    from launcher.jobs.slurm import jobs as slurm_jobs

    req, spec = plan_request(args), spec_from_args(args, default_gpus=SLURM_COMMAND_GPUS)
    backend = backends.backend_for(spec)
    if args.submit:
        record, plan = backend.launch(req, spec, force=args.force)
        script, submitted = record.command[-1], record.slurm_job_id
    else:
        plan = backend.plan(req, spec, dump=True)
        launching.refuse(plan, force=args.force)
        script, submitted, record = str(slurm_jobs.write_files(plan, spec, plan.preset.name)), None, None
    result = {"script": script, "run_dir": str(plan.run_dir), "lr": plan.proposal.lr,
              "formula": plan.proposal.formula, "submitted": submitted, "job": record.id if record else None}
    if args.json:
        print_json(dict(result, status=job_status.status(record) if record else None))
    elif record:
        print(f"wrote {script} (lr {plan.proposal.lr:g} = {plan.proposal.formula})")
        print("\n".join(backend.launched(record)))
    else:
        print(f"wrote {script} (lr {plan.proposal.lr:g} = {plan.proposal.formula})")
        print(f"submit with: sbatch {script}   (or frcnn-tui launch --slurm ... to submit and watch it)")
    return 0


def register(sub: Any) -> None:
    """`launch --slurm` and its options on the launch parser, and the `slurm` command."""
    launch_parser = sub.choices["launch"]
    launch_parser.add_argument("--slurm", action="store_true",
                               help="submit to SLURM (sbatch) instead of running on this host")
    _add_options(launch_parser)

    p = sub.add_parser("slurm", help="write (and with --submit, sbatch) a SLURM batch script for a preset")
    add_plan_args(p)
    _add_options(p)
    p.add_argument("--name", type=arg_types.job_name, help="job name (with --submit)")
    p.add_argument("--work-dir")
    p.add_argument("--submit", action="store_true", help="sbatch the script and record the job (as launch --slurm)")
    p.add_argument("--force", action="store_true", help="write the script even if a check fails")
    p.set_defaults(func=cmd_slurm)
