"""`frcnn-tui slurm`: the same plan, run by SLURM with mmdet's slurm_train.sh layout.

One task per GPU (srun --ntasks=G*N --ntasks-per-node=G), `--launcher slurm`, so
MMEngine reads SLURM's rank variables. The script is written into the run dir;
--submit hands it to sbatch. SLURM owns the job from there (squeue/scancel);
`frcnn-tui watch --work-dir RUN_DIR` follows its logs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

from launcher import paths
from launcher.jobs import shell
from launcher.planning.checklist import FAIL
from launcher.errors import CheckFailed, UserError
from launcher.hardware.gpu_probe import GPUInfo, Inventory
from launcher.planning.plan import Plan, PlanRequest, make_plan


def render_sbatch(plan: Plan, *, partition: str, gpus_per_node: int, nodes: int, cpus_per_task: int,
                  time_limit: str) -> str:
    run_dir = plan.run_dir
    train = [plan.python, "-u", str(paths.package_file("stack/train_entry.py")), str(plan.config_file),
             "--launcher", "slurm", "--work-dir", str(run_dir)]
    env = {k: v for k, v in plan.env.items() if k != "CUDA_VISIBLE_DEVICES"}  # SLURM sets it per allocation
    # Every value is user input: launcher.jobs.shell keeps each one data (quoted words,
    # one-line comments, #SBATCH values in sbatch's own quoting).
    return "\n".join([
        "#!/usr/bin/env bash",
        shell.directive("job-name", f"frcnn-{plan.preset.name}"),
        shell.directive("partition", partition),
        shell.directive("nodes", nodes),
        shell.directive("ntasks-per-node", gpus_per_node),
        shell.directive("gres", f"gpu:{gpus_per_node}"),
        shell.directive("cpus-per-task", cpus_per_task),
        shell.directive("time", time_limit),
        shell.directive("output", f"{run_dir}/slurm-%j.out"),
        shell.comment(f"frcnn-tui plan {plan.job_id}: lr {plan.proposal.lr:g} = {plan.proposal.formula}"),
        f"cd {shell.word(run_dir)} || exit 1",
        shell.exports(env),
        f'srun --kill-on-bad-exit=1 {shell.words(train)} "$@"',
    ]) + "\n"


def run_slurm(args: argparse.Namespace, req: PlanRequest) -> int:
    if args.gpus is not None or args.gpu_ids is not None or args.cpu:
        raise UserError("slurm takes --gpus-per-node and --nodes; SLURM picks the GPUs")
    req.gpus = args.gpus_per_node
    req.work_dir = args.work_dir
    # The local machine's GPUs are irrelevant: SLURM allocates free ones per node.
    allocated = Inventory(gpus=[GPUInfo(index=i, name="allocated by SLURM", processes=[])
                                for i in range(args.gpus_per_node)], source="slurm")
    req.master_addr, req.port = req.master_addr or "slurm", req.port or 29500
    plan = make_plan(req, inventory=allocated, dump=True)
    failing = [c for c in plan.checks if c.status == FAIL and c.id not in ("port",)]
    if failing and not getattr(args, "force", False):
        raise CheckFailed("checklist fails: " + "; ".join(f"{c.id}: {c.detail}" for c in failing))
    script = plan.run_dir / "slurm.sh"
    script.write_text(render_sbatch(plan, partition=args.partition, gpus_per_node=args.gpus_per_node,
                                    nodes=req.nodes, cpus_per_task=args.cpus_per_task, time_limit=args.time))
    (plan.run_dir / "plan.json").write_text(json.dumps(plan.to_dict(), indent=2, default=str))
    result = {"script": str(script), "run_dir": str(plan.run_dir), "lr": plan.proposal.lr,
              "formula": plan.proposal.formula, "submitted": None}
    if args.submit:
        if not shutil.which("sbatch"):
            raise UserError(f"sbatch is not on PATH; the script is at {script}")
        proc = subprocess.run(["sbatch", str(script)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise CheckFailed(f"sbatch failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        result["submitted"] = proc.stdout.strip()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {script} (lr {plan.proposal.lr:g} = {plan.proposal.formula})")
        print(result["submitted"] or f"submit with: sbatch {script}", file=sys.stdout)
    return 0
