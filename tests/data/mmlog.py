"""Writes work dirs in MMEngine 0.10.7's exact on-disk format, for the tailer tests.

Key order and separators are those of LoggerHook/LocalVisBackend (json.dump of the
tag dict, then a newline); text lines follow LogProcessor.get_log_after_iter.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

DATA = Path(__file__).resolve().parent


def train_record(step: int, *, epoch: int = 1, loss: float = 1.2, lr: float = 0.02,
                 time: float = 0.5, memory: int | None = 3000) -> dict:
    rec = {"lr": lr, "data_time": 0.01, "loss": loss, "loss_rpn_cls": loss * 0.5,
           "loss_rpn_bbox": loss * 0.1, "loss_cls": loss * 0.3, "acc": 90.1,
           "loss_bbox": loss * 0.1, "time": time, "epoch": epoch, "iter": step}
    if memory is not None:
        rec["memory"] = memory
    rec["step"] = step
    return rec


def val_record(epoch: int, bbox_map: float, *, m50: float = 0.58, large: float = 0.48) -> dict:
    return {"coco/bbox_mAP": bbox_map, "coco/bbox_mAP_50": m50, "coco/bbox_mAP_75": 0.40,
            "coco/bbox_mAP_s": 0.21, "coco/bbox_mAP_m": 0.41, "coco/bbox_mAP_l": large,
            "data_time": 0.01, "time": 0.1, "step": epoch}


def line(record: dict) -> str:
    return json.dumps(record) + "\n"


def train_text_line(rec: dict, it: int, per_epoch: int, max_epochs: int = 12,
                    eta: str = "0:01:40", stamp: str = "2026/11/28 23:10:01") -> str:
    epoch = f"[{rec['epoch']}]".rjust(len(str(max_epochs)) + 3)
    body = (f"Epoch(train){epoch}[{str(it).rjust(len(str(per_epoch)))}/{per_epoch}]  "
            f"base_lr: {rec['lr']:.4e} lr: {rec['lr']:.4e}  eta: {eta}  time: {rec['time']:.4f}  "
            f"data_time: {rec['data_time']:.4f}  memory: {rec.get('memory', 0)}  "
            + "  ".join(f"{k}: {rec[k]:.4f}" for k in
                        ("loss", "loss_rpn_cls", "loss_rpn_bbox", "loss_cls", "acc", "loss_bbox")))
    return f"{stamp} - mmengine - INFO - {body}\n"


class Run:
    """One start (or resume) of a job: work_dir/<stamp>/ with its two logs."""

    def __init__(self, work_dir: Path, stamp: str = "20261128_231000", *, create: bool = True):
        self.work_dir = Path(work_dir)
        self.dir = self.work_dir / stamp
        self.scalars = self.dir / "vis_data" / "scalars.json"
        self.text = self.dir / f"{stamp}.log"
        if create:
            self.scalars.parent.mkdir(parents=True, exist_ok=True)

    def append(self, path: Path, text: str | bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        with open(path, "ab") as fh:
            fh.write(data)

    def records(self, *records: dict) -> None:
        self.append(self.scalars, "".join(line(r) for r in records))

    def log(self, *lines: str) -> None:
        self.append(self.text, "".join(lines))


def copy_fixture(name: str, dest: Path) -> Path:
    """A writable copy of a recorded work dir from tests/data."""
    target = Path(dest) / name
    shutil.copytree(DATA / name, target)
    return target
