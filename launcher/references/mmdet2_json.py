"""MMDetection 2.x JSON logs (``<timestamp>.log.json``), the model zoo's official format.

Written by mmcv 1.x ``TextLoggerHook._dump_log``: first the runner's ``meta`` (mmdet 2.x
``tools/train.py``: ``env_info``, ``config``, ``seed``, ``exp_name``; older versions have
``mmdet_version``/``config`` only), then one object a logged step, floats rounded to 5
places::

    {"mode": "train", "epoch": 1, "iter": 50, "lr": 0.00198, "memory": 3706, "data_time": 0.07, ..., "loss": 1.91, "time": 0.46}
    {"mode": "val", "epoch": 1, "iter": 7330, "lr": 0.02, "bbox_mAP": 0.207, ..., "bbox_mAP_copypaste": "0.207 ..."}

``iter`` of a train line counts within the epoch; the epoch length is not written, so it
is the last logged train iteration of a full epoch (less than one logging interval
short), or the val line's ``iter`` when that is the train length (older mmcv).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from launcher.errors import UserError
from launcher.references import log_header
from launcher.references.model import Reference, loss_curve, map_row, merge_maps


def _iters_per_epoch(train_iters: dict[int, int], val_iters: dict[int, int], interval: int | None) -> int | None:
    if not train_iters:
        return None
    epoch = min(train_iters)  # the first epoch is complete whenever a second one exists
    longest = max(train_iters.values()) if len(train_iters) == 1 else train_iters[epoch]
    val = val_iters.get(epoch)
    if val and longest <= val < longest + (interval or 50):
        return val
    return longest


def parse_json_log(path: Path, name: str) -> Reference:
    meta: dict[str, Any] = {}
    maps, losses = [], []
    train_iters: dict[int, int] = {}
    val_iters: dict[int, int] = {}
    steps: list[int] = []
    bad = 0
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(d, dict):
                bad += 1
                continue
            mode, epoch, it = d.get("mode"), d.get("epoch"), d.get("iter")
            if mode is None:
                meta.update(d)
            elif mode == "val" and isinstance(epoch, int):
                row = map_row(epoch, d)
                if row:
                    maps.append(row)
                if isinstance(it, int):
                    val_iters[epoch] = it
            elif mode == "train" and isinstance(epoch, int) and isinstance(it, int):
                if train_iters.get(epoch, 0) < it:
                    train_iters[epoch] = it
                if "loss" in d:
                    losses.append((epoch, it, d["loss"]))
                steps.append(it)
    if not maps and not losses:
        raise UserError(f"{path}: no train or val line of an MMDetection 2.x JSON log")
    interval = steps[0] if steps else None
    per_epoch = _iters_per_epoch(train_iters, val_iters, interval)
    env = log_header.parse_env(str(meta.get("env_info") or ""))
    config = log_header.parse_config(str(meta.get("config") or ""))
    seed = meta.get("seed") if isinstance(meta.get("seed"), int) else None
    if env.get("mmdet") is None and meta.get("mmdet_version"):
        env["mmdet"] = str(meta["mmdet_version"])
    env, train, notes = log_header.combine(env, config, per_epoch, seed)
    total = per_epoch * train["max_epochs"] if per_epoch and train.get("max_epochs") else None
    points = [((e - 1) * per_epoch + i, v) for e, i, v in losses] if per_epoch else []
    if bad:
        notes.append(f"{bad} line(s) that are not JSON objects were skipped")
    return Reference(name=name, source=str(path), format="mmdet2-json", env=env, train=train,
                     map_by_epoch=merge_maps(maps), loss_curve=loss_curve(points, total), notes=notes)
