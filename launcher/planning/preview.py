"""The fast, pure part of a plan: which devices, and the lr with its formula and warmup.

``make_plan`` starts from this and adds the slow part (the config resolved in the
training interpreter, the checklist, the command). The TUI's Plan screen shows it on
every keystroke, so the lr on screen and the lr that launches come from one code path.
No I/O: the GPU inventory and the preset catalog are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from launcher.errors import UserError
from launcher.hardware.gpu_probe import Inventory
from launcher.planning import lr_scaling
from launcher.planning.presets import Preset, PresetCatalog
from launcher.planning.request import PlanRequest

__all__ = ["PlanPreview", "default_rule", "preview", "resolve_devices"]


@dataclass
class PlanPreview:
    request: PlanRequest
    preset: Preset
    cpu: bool
    gpu_ids: list[int]
    nproc_per_node: int
    proposal: lr_scaling.LrProposal


def default_rule(preset: Preset) -> str:
    """The preset's own rule if it names one; else linear for SGD (Goyal et al.) and the
    square-root rule for Adam-family optimizers."""
    if preset.lr_rule:
        return preset.lr_rule
    return "sqrt" if preset.is_adam_family else "linear"


def resolve_devices(req: PlanRequest, preset: Preset, inventory: Inventory) -> tuple[bool, list[int], int]:
    """(cpu?, gpu ids, processes per node). No GPU found and none asked for means CPU."""
    if req.gpu_ids is not None and req.gpus is not None:
        raise UserError("use --gpus N or --gpu-ids LIST, not both")
    if req.cpu or (not inventory.gpus and req.gpus is None and req.gpu_ids is None):
        nproc = preset.default_cpu_workers if req.nproc is None else req.nproc
        if nproc < 1:
            raise UserError(f"--nproc must be >= 1, got {nproc}")
        return True, [], nproc
    if req.gpu_ids is not None:
        if len(set(req.gpu_ids)) != len(req.gpu_ids) or any(g < 0 for g in req.gpu_ids):
            raise UserError(f"--gpu-ids must be distinct non-negative indices, got {req.gpu_ids}")
        return False, list(req.gpu_ids), len(req.gpu_ids)
    count = req.gpus if req.gpus is not None else len(inventory.gpus)
    if count < 1:
        raise UserError(f"--gpus must be >= 1, got {count}")
    # Planning for more GPUs than this host has is allowed (a laptop planning for a
    # GPU box); the gpus check then fails with the real count.
    known = [g.index for g in inventory.gpus]
    ids = known[:count] + list(range(len(known), count)) if count > len(known) else known[:count]
    return False, ids, count


def preview(req: PlanRequest, *, inventory: Inventory, catalog: PresetCatalog) -> PlanPreview:
    """Devices and lr proposal for REQ; UserError (one line) when it cannot be planned."""
    preset = catalog.get(req.preset)
    cpu, gpu_ids, nproc = resolve_devices(req, preset, inventory)
    if req.nodes < 1:
        raise UserError(f"--nodes must be >= 1, got {req.nodes}")
    try:
        proposal = lr_scaling.propose(
            preset.base_lr, preset.base_batch_size, nodes=req.nodes, gpus_per_node=nproc,
            imgs_per_gpu=preset.imgs_per_gpu if req.imgs_per_gpu is None else req.imgs_per_gpu,
            rule=req.lr_rule or default_rule(preset),
            base_warmup_iters=preset.warmup_iters, rescale_warmup=req.rescale_warmup, override=req.lr)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    return PlanPreview(request=req, preset=preset, cpu=cpu, gpu_ids=gpu_ids, nproc_per_node=nproc, proposal=proposal)
