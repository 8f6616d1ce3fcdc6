"""An MMDetection 2.x text log followed live, as if it were MMEngine's scalars.json.

A 2.x work dir has no timestamp folders and no scalars.json: only ``<timestamp>.log``
(and ``.log.json``) at its top. Each training line ``Epoch [E][I/N]\\tlr: …, loss: …``
becomes one train record keyed like scalars.json (``step`` = the global iteration
(E-1)*N+I), each ``Epoch(val) [E][…]\\tbbox_mAP: …`` a validation record
(``coco/bbox_mAP…``, ``step`` = E), so the metrics, alerts and charts need no second
code path. Errors, tracebacks and COCO tables come from the TextLog scan it inherits.
"""

from __future__ import annotations

from launcher.monitor.scalars import ScalarBatch
from launcher.monitor.text_events import TextLog, TrainProgress, parse_train_line
from launcher.references.text_log import PREFIX, parse_line

__all__ = ["Mmdet2TextLog", "is_mmdet2_log_name"]


def is_mmdet2_log_name(name: str, side_files: tuple[str, ...]) -> bool:
    return name.endswith(".log") and name not in side_files


class Mmdet2TextLog(TextLog):
    def records(self, data: bytes, first_line: int) -> tuple[list[ScalarBatch], TrainProgress | None]:
        batches: list[ScalarBatch] = []
        progress = None
        for i, raw in enumerate(data.split(b"\n")):
            if b"Epoch" not in raw:
                continue
            line = raw.decode("utf-8", "replace").rstrip("\r")
            rec = parse_line(line)
            if rec is None:
                continue
            if rec.kind == "val":
                row = {f"coco/{k}": v for k, v in rec.values.items() if k.startswith("bbox_mAP")}
                row["step"] = rec.epoch
            else:
                step = (rec.epoch - 1) * rec.iters_per_epoch + rec.iter
                row = {**rec.values, "epoch": rec.epoch, "iter": step, "step": step}
                progress = self._progress(line)
            batches.append(ScalarBatch(tuple(row), {k: [v] for k, v in row.items()}, self.index, first_line + i))
        return batches, progress

    def _progress(self, line: str) -> TrainProgress | None:
        m = PREFIX.match(line)
        body = line[m.end():] if m else line
        # 2.x's train head differs from MMEngine's only by the "(train)" MMEngine adds.
        progress = parse_train_line(body.replace("Epoch [", "Epoch(train) [", 1))
        if progress is not None:
            progress.source = self.name
            progress.stamp = m.group(1) if m else None
        return progress
