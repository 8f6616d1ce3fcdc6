"""The lr proposal: the linear scaling rule (Goyal et al. 2017), with the numbers shown.

lr = base_lr x total_batch / base_batch_size, total_batch = nodes x gpus_per_node x imgs_per_gpu.
For Adam-family optimizers the square-root rule is offered. Warmup is left as mmdet
has it unless asked; detectron2's auto_scale_workers rescales it by base/total batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

RULES = ("linear", "sqrt")


def fmt(x: float) -> str:
    """Short, exact-looking numbers for formulas: 0.01, 0.0025, 0.04, 0.0141421."""
    return f"{x:.6g}"


@dataclass
class LrProposal:
    base_lr: float
    base_batch_size: int
    nodes: int
    gpus_per_node: int
    imgs_per_gpu: int
    rule: str
    rule_lr: float  # what the rule gives
    lr: float  # what will be used (rule_lr unless overridden)
    formula: str
    base_warmup_iters: int
    warmup_iters: int
    warmup_rescaled: bool
    override: float | None = None

    @property
    def total_batch(self) -> int:
        return self.nodes * self.gpus_per_node * self.imgs_per_gpu

    @property
    def world_size(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def override_ratio(self) -> float | None:
        """How far a user override is from the rule (2.0 = twice the rule's lr)."""
        return None if self.override is None else self.override / self.rule_lr

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(total_batch=self.total_batch, world_size=self.world_size, override_ratio=self.override_ratio)
        return data


def propose(base_lr: float, base_batch_size: int, *, nodes: int, gpus_per_node: int, imgs_per_gpu: int,
            rule: str = "linear", base_warmup_iters: int = 0, rescale_warmup: bool = False,
            override: float | None = None) -> LrProposal:
    if rule not in RULES:
        raise ValueError(f"unknown lr rule {rule!r} (known: {', '.join(RULES)})")
    for name, value in (("nodes", nodes), ("gpus per node", gpus_per_node), ("images per GPU", imgs_per_gpu)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    total = nodes * gpus_per_node * imgs_per_gpu
    ratio = total / base_batch_size
    batch_text = f"({nodes}×{gpus_per_node}×{imgs_per_gpu})/{base_batch_size}"
    if rule == "linear":
        rule_lr = base_lr * ratio
        formula = f"{fmt(base_lr)} × {batch_text} = {fmt(rule_lr)}"
    else:
        rule_lr = base_lr * math.sqrt(ratio)
        formula = f"{fmt(base_lr)} × √({batch_text}) = {fmt(rule_lr)}"
    rule_lr = float(fmt(rule_lr))  # drop float noise such as 0.010000000000000002
    warmup = round(base_warmup_iters / ratio) if rescale_warmup else base_warmup_iters
    if override is not None and override <= 0:
        raise ValueError(f"lr must be > 0, got {override}")
    return LrProposal(
        base_lr=base_lr, base_batch_size=base_batch_size, nodes=nodes, gpus_per_node=gpus_per_node,
        imgs_per_gpu=imgs_per_gpu, rule=rule, rule_lr=rule_lr,
        lr=override if override is not None else rule_lr, formula=formula,
        base_warmup_iters=base_warmup_iters, warmup_iters=warmup, warmup_rescaled=rescale_warmup,
        override=override,
    )
