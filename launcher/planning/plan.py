"""A plan: preset + hardware + overrides -> lr proposal, resolved config, checklist, command.

The flow is one way: probe (Inventory) -> plan (this) -> launch (spawn) -> registry.
`plan` never starts anything; `launch` runs exactly the command a plan shows.
Its fast part (devices, lr, formula, warmup) is ``preview``, which the TUI shows as you type.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from launcher.data import plan_data
from launcher.planning import checklist
from launcher.planning import lr_scaling
from launcher import paths
from launcher.stack import setup_status, training_env
from launcher.planning.checklist import FAIL, Check
from launcher.errors import UserError
from launcher.hardware.gpu_probe import Inventory, probe
from launcher.planning.presets import Preset, PresetCatalog, load_presets
from launcher.planning.preview import preview
from launcher.planning.request import PlanRequest
from launcher.planning.what_runs import WhatRuns, what_runs
from launcher import run_files

if TYPE_CHECKING:  # imported where used: the dataset writer is only needed by the demo preset
    from launcher.stack.synthetic_data import PendingDataset


@dataclass
class Plan:
    request: PlanRequest
    preset: Preset
    proposal: lr_scaling.LrProposal
    cpu: bool
    gpu_ids: list[int]
    nproc_per_node: int
    python: str
    data_root: str
    job_id: str
    run_dir: Path
    port: int
    inspection: dict[str, Any]
    checks: list[Check]
    command: list[str]
    env: dict[str, str]
    inventory: Inventory

    @property
    def status(self) -> str:
        return checklist.worst(self.checks)

    @property
    def config_file(self) -> Path:
        return self.run_dir / run_files.CONFIG

    @property
    def versions(self) -> dict[str, Any]:
        return self.inspection.get("versions") or {}

    @property
    def resolved(self) -> dict[str, Any]:
        """The resolved config's summary (lr, schedule, seed...), as plan.json keeps it."""
        return (self.inspection.get("config") or {}).get("summary") or {}

    @property
    def what_runs(self) -> WhatRuns:
        """The lr and schedule the resolved config runs (every --cfg-options included)."""
        return what_runs(self.preset, self.proposal, self.resolved)

    def to_dict(self) -> dict[str, Any]:
        p, runs = self.proposal, self.what_runs
        return {
            "preset": self.preset.name,
            "description": self.preset.description,
            "config_path": (self.inspection.get("config") or {}).get("config_path") or str(self.preset.config_path()),
            "base_lr": p.base_lr,
            "base_batch_size": p.base_batch_size,
            "nodes": p.nodes,
            "node_rank": self.request.node_rank,
            "gpus_per_node": p.gpus_per_node,
            "imgs_per_gpu": p.imgs_per_gpu,
            "world_size": p.world_size,
            "total_batch": p.total_batch,
            "lr": runs.lr,  # what runs: a --cfg-options lr included; the rule's is rule_lr
            "rule_lr": p.rule_lr,
            "rule": p.rule,
            "formula": p.formula,
            "lr_override": runs.lr if runs.lr_set_by else None,
            "lr_override_ratio": runs.lr_ratio,
            "lr_set_by": runs.lr_set_by,
            "warmup_iters": p.warmup_iters,
            "warmup_rescaled": p.warmup_rescaled,
            "epochs": self.preset.epochs,
            "effective_epochs": self.preset.effective_epochs,
            "what_runs": runs.to_dict(),
            "milestones": self.preset.milestones,
            "reference_ap": self.preset.reference_ap,
            "reference_env": self.preset.reference_env,
            "cpu": self.cpu,
            "gpu_ids": self.gpu_ids,
            "python": self.python,
            "data_root": self.data_root,
            "seed": self.request.seed,
            "job_id": self.job_id,
            "run_dir": str(self.run_dir),
            "port": self.port,
            "status": self.status,
            "checklist": [c.to_dict() for c in self.checks],
            "versions": self.versions,
            "resolved": self.resolved or None,
            "command": self.command,
            "env": self.env,
        }


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _plan_options(req: PlanRequest, proposal: lr_scaling.LrProposal, cpu: bool) -> list[list[Any]]:
    # Set the lr explicitly with auto_scale_lr off, so it can never be scaled twice.
    opts: list[list[Any]] = [
        ["optim_wrapper.optimizer.lr", proposal.lr, False],
        ["auto_scale_lr.enable", False, False],
        ["train_dataloader.batch_size", proposal.imgs_per_gpu, False],
    ]
    if req.seed is not None:
        opts.append(["randomness.seed", req.seed, False])
    if req.deterministic:
        opts.append(["randomness.deterministic", True, False])
    if req.load_from:
        opts.append(["load_from", plan_data.checkpoint_path(req.load_from), False])
    if cpu:
        opts.append(["env_cfg.dist_cfg.backend", "gloo", False])
    if req.nodes > 1:
        # MMEngine's default 'cpu' result collection goes through a .dist_test dir in
        # each rank's cwd, which only works when every node shares that folder;
        # 'gpu' mode all-gathers over the process group instead (gloo or nccl).
        opts += [["val_evaluator.collect_device", "gpu", False], ["test_evaluator.collect_device", "gpu", False]]
    for item in req.cfg_options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--cfg-options expects KEY=VALUE, got {item!r}")
        opts.append([key, value, True])
    return opts


def _data_root(req: PlanRequest, preset: Preset, python: str,
               generate: bool = True) -> tuple[str, PendingDataset | None]:
    """The data root, and the synthetic dataset's generation when it is still being written
    (await it with _await_dataset once the inspection, which only names the root, is done).
    GENERATE false (the training stack, which writes it, is still being set up): only its folder."""
    if req.data_root:
        return str(Path(req.data_root).expanduser().absolute()), None
    if preset.dataset == "synthetic-shapes":
        from launcher.stack import synthetic_data

        if not generate:
            return str(synthetic_data.dataset_dir(paths.cache_dir())), None
        try:
            pending = synthetic_data.start_dataset(python, paths.cache_dir())
        except Exception as exc:
            raise _dataset_error(exc) from None
        return str(pending.out), pending
    return str(Path(preset.data_root).expanduser().absolute()), None


def _await_dataset(pending: PendingDataset) -> None:
    try:
        pending.wait()
    except Exception as exc:
        raise _dataset_error(exc) from None


def _dataset_error(exc: Exception) -> UserError:
    return UserError(f"could not generate the synthetic dataset: {exc}".splitlines()[0])


TORCHRUN_LOG_DIR = "torchrun"  # in the run dir: per-attempt, per-rank error files


def build_command(python: str, *, cpu: bool, gpu_ids: list[int], nproc: int, nodes: int, node_rank: int,
                  master_addr: str | None, port: int, config_file: Path, run_dir: Path,
                  amp: bool = False, resume: bool = False) -> tuple[list[str], dict[str, str]]:
    cmd = [python, "-m", "torch.distributed.run"]
    if nodes == 1:
        cmd += ["--nnodes=1", f"--nproc-per-node={nproc}", "--master-addr=127.0.0.1", f"--master-port={port}"]
    else:
        # c10d rendezvous: every node runs the same line; the id must match across nodes.
        cmd += [f"--nnodes={nodes}", f"--node-rank={node_rank}", f"--nproc-per-node={nproc}",
                "--rdzv-backend=c10d", f"--rdzv-endpoint={master_addr}:{port}", f"--rdzv-id=frcnn-{port}"]
    # torchrun keeps each rank's error file (the @record traceback) under the run dir, not in /tmp:
    # the monitor names the rank that failed first with its own traceback (monitor/rank_failure.py).
    cmd.append(f"--log-dir={run_dir / TORCHRUN_LOG_DIR}")
    cmd += [str(paths.package_file("stack/train_entry.py")), str(config_file), "--launcher", "pytorch",
            "--work-dir", str(run_dir)]
    if amp:
        cmd.append("--amp")
    if resume:
        cmd.append("--resume")
    env = {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # NVML's order, which the user picked from
        "CUDA_VISIBLE_DEVICES": "" if cpu else ",".join(map(str, gpu_ids)),
        "PYTHONUNBUFFERED": "1",
    }
    if cpu:
        env["OMP_NUM_THREADS"] = str(max(1, training_env.cpu_count() // nproc))
    return cmd, env


def run_dir_for(req: PlanRequest, job_id: str) -> Path:
    """Where job JOB_ID runs: --work-dir, else its own folder under the state dir."""
    return Path(req.work_dir).expanduser().absolute() if req.work_dir else paths.runs_dir() / job_id


def make_plan(req: PlanRequest, *, inventory: Inventory | None = None, catalog: PresetCatalog | None = None,
              dump: bool = False, job_id: str | None = None) -> Plan:
    inventory = inventory if inventory is not None else probe()
    fast = preview(req, inventory=inventory, catalog=catalog or load_presets())
    preset, proposal = fast.preset, fast.proposal
    dataset = plan_data.from_request(req, preset)  # your own data (--data): checked before anything runs
    if dataset is not None:
        preset = dataset.preset(preset)
    cpu, gpu_ids, nproc = fast.cpu, fast.gpu_ids, fast.nproc_per_node
    python = training_env.training_python(req.python)
    if req.port is not None and not 1 <= req.port <= 65535:
        raise UserError(f"--port must be in 1..65535, got {req.port}")
    if req.nodes > 1 and (req.port is None or not req.master_addr):
        raise UserError("--nodes > 1 needs --master-addr HOST and --port PORT, the same on every node")
    if not 0 <= req.node_rank < req.nodes:
        raise UserError(f"--node-rank must be in [0, {req.nodes}), got {req.node_rank}")
    # This venv's stack is still being set up by `make run` (or that failed): nothing to inspect with yet.
    setup = setup_status.pending(python)
    data_root, generating = _data_root(req, preset, python, generate=setup is None)
    job_id = job_id or new_job_id()  # launch picks it first, to record its intent (launch_journal)
    run_dir = run_dir_for(req, job_id)
    port = req.port or free_port()

    args = ["--config", preset.config, "--preset-dir", str(Path(preset.source).parent),
            "--pre-options", json.dumps([[k, v, False] for k, v in preset.cfg_options.items()]),
            "--data-root", data_root, "--train-ann", preset.train_ann_file, "--val-ann", preset.val_ann_file,
            "--options", json.dumps(_plan_options(req, proposal, cpu))]
    if dataset is not None:
        args += dataset.inspect_args()
    if proposal.warmup_rescaled:
        args += ["--warmup-iters", str(proposal.warmup_iters)]
    if dump:
        paths.ensure_private_dir(run_dir)  # it will hold the command line and paths of the job
        args += ["--dump", str(run_dir / run_files.CONFIG)]
    try:
        inspection = training_env.inspect(python, args) if setup is None else {}
    finally:
        # Awaited even when the inspection failed: no generator is left running behind the
        # plan, and its own failure (a missing cv2, say) is the one-line error the user sees.
        if generating is not None:
            _await_dataset(generating)

    checks = _run_checks(preset, proposal, inspection, inventory, gpu_ids, cpu, nproc, port, req, data_root, setup)
    if req.load_from:
        checks.append(plan_data.check_load_from((inspection.get("config") or {}).get("summary") or {}))
    if dataset is not None:
        checks.append(plan_data.check_dataset(dataset, (inspection.get("config") or {}).get("summary") or {},
                                              proposal.total_batch))
    command, env = build_command(python, cpu=cpu, gpu_ids=gpu_ids, nproc=nproc, nodes=req.nodes,
                                 node_rank=req.node_rank, master_addr=req.master_addr, port=port,
                                 config_file=run_dir / run_files.CONFIG, run_dir=run_dir, amp=req.amp)
    return Plan(request=req, preset=preset, proposal=proposal, cpu=cpu, gpu_ids=gpu_ids, nproc_per_node=nproc,
                python=python, data_root=data_root, job_id=job_id, run_dir=run_dir, port=port,
                inspection=inspection, checks=checks, command=command, env=env, inventory=inventory)


def _run_checks(preset: Preset, proposal: lr_scaling.LrProposal, inspection: dict[str, Any], inventory: Inventory,
                gpu_ids: list[int], cpu: bool, nproc: int, port: int, req: PlanRequest, data_root: str,
                setup: setup_status.SetupStatus | None = None) -> list[Check]:
    if setup is not None:  # only what needs no training interpreter can be checked yet
        return checklist.stack_not_ready(setup, gpu_plan=not cpu) + [
            checklist.check_gpus(preset, inventory, gpu_ids, cpu, nproc),
            checklist.check_port(port, host_is_local=req.nodes == 1 or req.node_rank == 0)]
    versions = inspection.get("versions") or {"error": inspection.get("error", "no versions reported")}
    config = inspection.get("config") or {}
    checks: list[Check] = []
    if "summary" in config:
        summary = config["summary"]
        checks += checklist.check_config_keys(summary)
        checks += [checklist.check_lr(preset, proposal, summary), checklist.check_seed(summary),
                   checklist.check_schedule(preset, summary), checklist.check_eval(preset, summary, data_root),
                   checklist.check_data(summary), checklist.check_weights(summary)]
    else:
        error = config.get("error") or inspection.get("error") or "the config could not be resolved"
        checks.append(Check("config", FAIL, error, "frcnn-tui doctor; check the preset's config path"))
    checks += [checklist.check_opencv(preset, versions), checklist.check_gpus(preset, inventory, gpu_ids, cpu, nproc),
               checklist.check_versions(versions),
               checklist.check_port(port, host_is_local=req.nodes == 1 or req.node_rank == 0)]
    cuda = None if cpu else checklist.check_cuda(inventory, versions)
    return checks + ([cuda] if cuda else [])
