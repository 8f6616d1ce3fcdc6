"""What a user asks to plan: a preset, devices, nodes, batch and lr overrides (CLI flags or the Plan screen)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PlanRequest"]


@dataclass
class PlanRequest:
    preset: str
    gpus: int | None = None
    gpu_ids: list[int] | None = None
    cpu: bool = False
    nproc: int | None = None  # CPU workers
    nodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    port: int | None = None
    imgs_per_gpu: int | None = None
    lr: float | None = None
    lr_rule: str | None = None
    rescale_warmup: bool = False
    seed: int | None = None
    deterministic: bool = False
    data_root: str | None = None
    # Your own dataset (launcher/data/): a folder in a known layout, or the four paths.
    data: str | None = None
    train_ann: str | None = None
    train_images: str | None = None
    val_ann: str | None = None
    val_images: str | None = None
    load_from: str | None = None  # fine-tune from this checkpoint (a COCO-trained Faster R-CNN, usually)
    cfg_options: list[str] = field(default_factory=list)
    work_dir: str | None = None
    name: str | None = None
    python: str | None = None
    amp: bool = False
    # Notification targets (apprise URLs: secrets) of launch --notify; plan.json keeps them, 0600.
    notify: list[str] = field(default_factory=list)
    # launch --on-stall: what the sentinel does after a stall's stack dump ("keep" it running, or "stop" it).
    on_stall: str = "keep"
    # launch --stall-grace: seconds of silence allowed beyond three of the run's usual log intervals
    # before it is called stalled (alerts.StallRule's slack); None: the rule's default.
    stall_grace_s: float | None = None
