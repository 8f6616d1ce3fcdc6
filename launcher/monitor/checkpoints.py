"""MMEngine's checkpoint files in a work dir: which names are checkpoints, and which one holds an epoch.

CheckpointHook writes ``epoch_N.pth`` (or ``iter_N.pth``) and, with ``save_best``,
``best_<metric>_epoch_N.pth`` (the metric's "/" becomes "_").
"""

from __future__ import annotations

import os
import re
from typing import Iterable

__all__ = ["checkpoint_for_epoch", "is_checkpoint"]

_CHECKPOINT = re.compile(r"^(?:(?:epoch|iter)_\d+|best_.+)\.pth$")


def is_checkpoint(name: str) -> bool:
    return bool(_CHECKPOINT.match(name))


def checkpoint_for_epoch(checkpoints: Iterable[str], epoch: int) -> str | None:
    """The path among ``checkpoints`` holding the weights after ``epoch``, if any."""
    names = {os.path.basename(c): c for c in checkpoints}
    if f"epoch_{epoch}.pth" in names:
        return names[f"epoch_{epoch}.pth"]
    return next((c for n, c in sorted(names.items())
                 if n.startswith("best_") and n.endswith(f"_epoch_{epoch}.pth")), None)
