"""What a plan will run: the lr and the schedule as the resolved config has them, after the preset's
options, the plan's own and every --cfg-options, with the rule's lr and the preset's schedule beside
them where they differ. The CLI's plan output, plan --json and the TUI Plan screen's summary all say
it from here, so no summary shows the preset's 24 epochs while max_epochs=2 runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from launcher.planning.lr_scaling import LrProposal
from launcher.planning.presets import Preset


@dataclass
class WhatRuns:
    lr: float
    rule_lr: float
    lr_set_by: str | None  # None: the rule's lr; else "--lr" or "--cfg-options"
    epochs: int | None  # max_epochs × RepeatDataset times (None: iteration-based)
    max_iters: int | None
    milestones: list[int] | None
    cosine: bool
    preset_epochs: int
    preset_milestones: list[int]

    @property
    def lr_ratio(self) -> float | None:
        """How far the lr that runs is from the rule's (2.0 = twice), when someone set it."""
        return None if self.lr_set_by is None else self.lr / self.rule_lr

    @property
    def schedule_changed(self) -> bool:
        """Epochs or milestones other than the preset's (the schedule check's own comparison)."""
        return self.epochs != self.preset_epochs or (
            self.milestones is not None and list(self.milestones) != list(self.preset_milestones))

    @property
    def length(self) -> str:
        if self.epochs is None:
            return f"{self.max_iters} iterations" if self.max_iters else "? epochs"
        return f"{self.epochs} epochs"

    @property
    def decay(self) -> str:
        if self.milestones:
            return f"milestones {self.milestones}"
        return "a cosine lr" if self.cosine else "no lr milestones (the config's own decay)"

    @property
    def preset_schedule(self) -> str:
        """The preset's schedule, said only beside a changed one."""
        return f"the preset's: {self.preset_epochs} epochs, milestones {self.preset_milestones}"

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), lr_ratio=self.lr_ratio, schedule_changed=self.schedule_changed)


def what_runs(preset: Preset, proposal: LrProposal, resolved: dict[str, Any]) -> WhatRuns:
    """From the resolved config's summary (env_inspect.summarize); the proposal and the preset where
    it says nothing (a config that did not resolve: the checklist then fails anyway)."""
    lr = resolved.get("lr")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)):
        lr = proposal.lr
    same_as_proposal = abs(lr - proposal.lr) <= 1e-12 + 1e-9 * abs(proposal.lr)
    set_by = ("--lr" if proposal.override is not None else None) if same_as_proposal else "--cfg-options"
    if resolved:
        repeat = (resolved.get("train") or {}).get("repeat") or 1
        max_epochs, max_iters = resolved.get("max_epochs"), resolved.get("max_iters")
        epochs = max_epochs * repeat if isinstance(max_epochs, int) else None
        milestones = resolved.get("milestones")
    else:  # not resolved (yet): the preset's, as the preview says
        epochs, max_iters, milestones = preset.effective_epochs, None, list(preset.milestones)
    return WhatRuns(lr=lr, rule_lr=proposal.rule_lr, lr_set_by=set_by, epochs=epochs, max_iters=max_iters,
                    milestones=milestones, cosine=bool(resolved.get("lr_cosine")),
                    preset_epochs=preset.effective_epochs, preset_milestones=list(preset.milestones))
