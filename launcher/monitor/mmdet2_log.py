"""MMDetection 2.x logs followed live, as if they were MMEngine's scalars.json.

A 2.x work dir has no timestamp folders and no scalars.json: only ``<timestamp>.log``
(and ``.log.json``) at its top. Each training line ``Epoch [E][I/N]\\tlr: …, loss: …``
becomes one train record keyed like scalars.json (``step`` = the global iteration
(E-1)*N+I), each ``Epoch(val) [E][…]\\tbbox_mAP: …`` a validation record
(``coco/bbox_mAP…``, ``step`` = E), so the metrics, alerts and charts need no second
code path. Errors, tracebacks and COCO tables come from the TextLog scan it inherits.

A work dir may hold only the ``.log.json`` (the model zoo publishes those alone, and people
copy them around); ``Mmdet2JsonLog`` turns its lines into the same records. It carries no
errors or progress lines, so the text log is followed instead whenever there is one.
"""

from __future__ import annotations

import json

from launcher.monitor.follow import FollowedFile
from launcher.monitor.scalars import ScalarBatch
from launcher.monitor.text_events import TextLog, TrainProgress, parse_train_line
from launcher.references.text_log import PREFIX, parse_line

__all__ = ["Mmdet2JsonLog", "Mmdet2TextLog", "is_mmdet2_json_log_name", "is_mmdet2_log_name"]


def is_mmdet2_log_name(name: str, side_files: tuple[str, ...]) -> bool:
    return name.endswith(".log") and name not in side_files


def is_mmdet2_json_log_name(name: str) -> bool:
    return name.endswith(".log.json")


# Both 2.x formats become the records MMEngine's scalars.json holds: one place says how.
def _val_row(values: dict, epoch: int) -> dict:
    return {**{f"coco/{k}": v for k, v in values.items() if k.startswith("bbox_mAP")}, "step": epoch}


def _train_row(values: dict, epoch: int, step: int) -> dict:
    return {**values, "epoch": epoch, "iter": step, "step": step}


def _line_batch(row: dict, index: int, line: int) -> ScalarBatch:
    return ScalarBatch(tuple(row), {k: [v] for k, v in row.items()}, index, line)


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
                row = _val_row(rec.values, rec.epoch)
            else:
                row = _train_row(rec.values, rec.epoch, (rec.epoch - 1) * rec.iters_per_epoch + rec.iter)
                progress = self._progress(line)
            batches.append(_line_batch(row, self.index, first_line + i))
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


class Mmdet2JsonLog(FollowedFile):
    """A 2.x ``<timestamp>.log.json`` followed live.

    Its train lines count ``iter`` within the epoch and the epoch length is not written,
    so the global step adds up the longest iteration seen in each earlier epoch (less
    than one logging interval short of the true length, as launcher.references reads it).
    """

    def __init__(self, path, name: str, index: int, epoch_len: dict[int, int] | None = None) -> None:
        super().__init__(path, name, index)
        self._epoch_len = {} if epoch_len is None else epoch_len

    def _step(self, epoch: int, it: int) -> int:
        if self._epoch_len.get(epoch, 0) < it:
            self._epoch_len[epoch] = it
        return sum(n for e, n in self._epoch_len.items() if e < epoch) + it

    def records(self, data: bytes, first_line: int) -> list[ScalarBatch]:
        batches: list[ScalarBatch] = []
        for i, raw in enumerate(data.split(b"\n")):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                self.bad += 1
                continue
            if not isinstance(rec, dict) or "mode" not in rec:
                continue  # the first line: env_info, config, seed
            epoch, it = rec.get("epoch"), rec.get("iter")
            if not isinstance(epoch, int) or isinstance(epoch, bool):
                self.bad += 1
                continue
            # Numbers only: a val line also has "bbox_mAP_copypaste", a string.
            values = {k: v for k, v in rec.items() if k not in ("mode", "epoch", "iter") and type(v) in (int, float)}
            if rec["mode"] == "val":
                row = _val_row(values, epoch)
            elif rec["mode"] == "train" and isinstance(it, int) and not isinstance(it, bool):
                row = _train_row(values, epoch, self._step(epoch, it))
            else:
                continue
            batches.append(_line_batch(row, self.index, first_line + i))
        return batches
