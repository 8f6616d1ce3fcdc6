"""MMDetection 2.x and 3.x text logs (``<timestamp>.log``).

Line formats (mmcv 1.x ``TextLoggerHook._log_info``; MMEngine ``LogProcessor``)::

    2.x  2020-01-30 20:47:31,123 - mmdet - INFO - Epoch [1][50/7330]\tlr: 1.978e-03, eta: ..., time: 0.457, ...
    2.x  2020-01-30 22:01:10,456 - mmdet - INFO - Epoch(val) [1][7330]\tbbox_mAP: 0.2070, bbox_mAP_50: ...
    3.x  2024/01/30 20:47:31 - mmengine - INFO - Epoch(train)  [1][  50/7330]  base_lr: ... lr: ...  loss: ...
    3.x  2024/01/30 22:01:10 - mmengine - INFO - Epoch(val) [1][5000/5000]    coco/bbox_mAP: 0.2080  ...

``parse_line`` reads one line (the monitor follows a live 2.x log with it); ``parse_text_log``
reads a whole file into a Reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from launcher.references import log_header
from launcher.references.model import Reference, loss_curve, map_row, merge_maps

# "2020-01-30 20:47:31,123 - mmdet - INFO - " (logging's default asctime) or MMEngine's
# "2024/01/30 20:47:31 - mmengine - INFO - ".
PREFIX = re.compile(r"^(\d{4}[-/]\d\d[-/]\d\d \d\d:\d\d:\d\d)(?:,\d+)? - ([\w.]+) - ([A-Z]+) - ")
_TRAIN = re.compile(r"Epoch(?:\(train\))?\s*\[(\d+)\]\s*\[\s*(\d+)/(\d+)\]")
_VAL = re.compile(r"Epoch\(val\)\s*\[(\d+)\]\s*\[\s*(\d+)(?:/\d+)?\]")
# key: number, the number ending at a separator ("eta: 22:20:39" is not a number).
_KV = re.compile(r"([A-Za-z_][\w/.]*): (-?(?:[0-9][0-9.]*(?:e[+-]?\d+)?|nan|inf))(?=[,\s]|$)")
_SKIP_KEYS = {"eta", "Epoch"}


@dataclass
class LogLine:
    kind: str  # "train" | "val"
    epoch: int
    iter: int  # within the epoch (train); the val dataloader length or train iters (val)
    iters_per_epoch: int | None
    values: dict[str, float]
    stamp: str | None = None


def _values(text: str) -> dict[str, float]:
    out = {}
    for key, value in _KV.findall(text):
        if key in _SKIP_KEYS or key.endswith("copypaste"):
            continue
        out.setdefault(key, float(value))
    return out


def parse_line(line: str) -> LogLine | None:
    """A training or evaluation line of either generation, or None."""
    m = PREFIX.match(line)
    body = line[m.end():] if m else line
    stamp = m.group(1) if m else None
    v = _VAL.search(body)
    t = None if v else _TRAIN.search(body)
    if "bbox_mAP" in body and (v or t):
        # Some mmcv 1.x versions print the evaluation as a train-style "Epoch [1][7330/7330]" line.
        head = v or t
        return LogLine("val", int(head.group(1)), int(head.group(2)), None, _values(body[head.end():]), stamp)
    if t and "loss" in body:
        return LogLine("train", int(t.group(1)), int(t.group(2)), int(t.group(3)), _values(body[t.end():]), stamp)
    return None


def _stamp_seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(stamp, fmt).timestamp()
        except ValueError:
            continue
    return None


@dataclass
class ParsedText:
    """Everything one text log says; several (a resumed run) are merged by the caller."""

    generation: int | None = None  # 2 or 3
    env: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    logged_seed: int | None = None
    maps: list[dict] = field(default_factory=list)
    losses: list[tuple[int, float]] = field(default_factory=list)
    iters_per_epoch: int | None = None
    first_stamp: float | None = None
    last_stamp: float | None = None


def read_text(path: Path) -> ParsedText:
    out = ParsedText()
    header: list[str] = []
    config: list[str] = []
    in_config = in_env = False
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return out
    with fh:
        for raw in fh:
            line = raw.rstrip("\n")
            m = PREFIX.match(line)
            if m:
                in_config = False
                body = line[m.end():]
                if out.generation is None:
                    out.generation = 3 if m.group(2) == "mmengine" or "/" in m.group(1)[:10] else 2
                when = _stamp_seconds(m.group(1))
                if when is not None:
                    out.first_stamp = out.first_stamp if out.first_stamp is not None else when
                    out.last_stamp = when
                if body.startswith("Config:"):
                    in_config, in_env = True, False
                    config.append(body[len("Config:"):])
                    continue
                in_env = body.startswith(("Environment info:", "System environment:")) or (
                    in_env and not body.strip())
                if not body.strip() or in_env:
                    in_env = True
                    header.append(body)
                    continue
                if out.logged_seed is None and body.startswith("Set random seed"):
                    out.logged_seed = log_header.seed_from_log(body)
                rec = parse_line(line)
                if rec is not None:
                    _add(out, rec)
            elif in_config:
                config.append(line)
            elif in_env or not out.maps:
                header.append(line)  # the unprefixed lines of the environment block
    out.env = log_header.parse_env("\n".join(header))
    out.config = log_header.parse_config("\n".join(config))
    return out


def _add(out: ParsedText, rec: LogLine) -> None:
    if rec.kind == "val":
        row = map_row(rec.epoch, rec.values)
        if row:
            out.maps.append(row)
        return
    out.iters_per_epoch = rec.iters_per_epoch or out.iters_per_epoch
    if "loss" in rec.values and rec.iters_per_epoch:
        out.losses.append(((rec.epoch - 1) * rec.iters_per_epoch + rec.iter, rec.values["loss"]))


def to_reference(parts: list[ParsedText], name: str, source: str, fmt: str) -> Reference:
    """Merges the text logs of one run (in start order) into a Reference."""
    env: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for p in parts:  # the first start's header wins; later ones fill gaps
        env.update({k: v for k, v in p.env.items() if v is not None and env.get(k) is None})
        config.update({k: v for k, v in p.config.items() if v is not None and config.get(k) is None})
    per_epoch = next((p.iters_per_epoch for p in reversed(parts) if p.iters_per_epoch), None)
    seed = next((p.logged_seed for p in parts if p.logged_seed is not None), None)
    env, train, notes = log_header.combine(env, config, per_epoch, seed)
    total = per_epoch * train["max_epochs"] if per_epoch and train.get("max_epochs") else None
    losses = sorted(pt for p in parts for pt in p.losses)
    stamps = [(p.first_stamp, p.last_stamp) for p in parts if p.first_stamp is not None]
    wall = sum(b - a for a, b in stamps) if stamps else None
    return Reference(name=name, source=source, format=fmt, env=env, train=train,
                     map_by_epoch=merge_maps([r for p in parts for r in p.maps]),
                     loss_curve=loss_curve(losses, total), wall_time_s=wall, notes=notes)


def parse_text_log(path: Path, name: str) -> Reference:
    parsed = read_text(path)
    fmt = "mmdet3-text" if parsed.generation == 3 else "mmdet2-text"
    return to_reference([parsed], name, str(path), fmt)
