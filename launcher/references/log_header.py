"""What the top of a training log says: the environment block and the config dump.

Both MMDetection 2.x (mmcv 1.x ``collect_env`` + ``cfg.pretty_text``) and MMEngine
(``Runner._log_env`` + ``Config.pretty_text``) print the environment as ``key: value``
lines and the config as Python source; only the names differ:

- 2.x: ``optimizer = dict(lr=...)``, ``data = dict(samples_per_gpu=...)``,
  ``runner = dict(max_epochs=...)`` (older: ``total_epochs = 12``),
  ``lr_config = dict(step=[8, 11])``, ``gpu_ids = range(0, 4)``, and the line
  ``Set random seed to 0, deterministic: False``;
- 3.x: ``optim_wrapper = dict(optimizer=dict(lr=...))``, ``train_dataloader =
  dict(batch_size=...)``, ``train_cfg = dict(max_epochs=...)``, ``milestones=[8, 11]``,
  ``randomness = dict(seed=0)``, and ``GPU number: 4`` in the runtime environment.
"""

from __future__ import annotations

import re
from typing import Any

from launcher.references.model import complete_train

# COCO train2017 images that mmdet keeps (filter_empty_gt): 14,659 iterations at batch 8,
# 7,330 at batch 16. Only used when nothing else says the world size.
COCO_TRAIN_IMAGES = 117_266

_NUM = r"(-?[0-9][0-9.]*(?:e[+-]?\d+)?)"
_ENV_LINE = re.compile(r"^\s*([A-Za-z][\w. ]*?|GPU [\d,]+): (.*)$")
_GPU_LINE = re.compile(r"^GPU ([\d,]+)$")
_CUDA_RUNTIME = re.compile(r"CUDA Runtime (\d+\.\d+)")
_NVCC = re.compile(r"release (\d+\.\d+)")
_TORCH_CU = re.compile(r"\+cu(\d+)(\d)$")
_SEED_2X = re.compile(r"Set random seed to (-?\d+)")


def parse_env(text: str) -> dict[str, Any]:
    """The environment block (2.x ``Environment info:`` or MMEngine ``System environment:``)."""
    raw: dict[str, str] = {}
    gpus, names = 0, []
    for line in text.splitlines():
        m = _ENV_LINE.match(line)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2).strip()
        g = _GPU_LINE.match(key)
        if g:
            gpus += len(g.group(1).split(","))
            names.append(value)
        raw.setdefault(key, value)
    torch = raw.get("PyTorch")
    cuda = None
    m = _CUDA_RUNTIME.search(text)
    if m:
        cuda = m.group(1)
    elif torch and (t := _TORCH_CU.search(torch)):
        cuda = f"{t.group(1)}.{t.group(2)}"
    elif raw.get("NVCC") and (n := _NVCC.search(raw["NVCC"])):
        cuda = n.group(1)
    env = {
        "torch": torch, "cuda": cuda, "opencv": raw.get("OpenCV"), "mmcv": raw.get("MMCV"),
        "mmdet": raw.get("MMDetection"), "mmengine": raw.get("MMEngine"),
        "gpus": gpus or None, "gpu_name": ", ".join(dict.fromkeys(names)) or None,
    }
    if raw.get("GPU number", "").isdigit():
        env["world_size"] = int(raw["GPU number"])
    if raw.get("seed", "").lstrip("-").isdigit():
        env["logged_seed"] = int(raw["seed"])
    return env


def _first(pattern: str, text: str, flags: int = 0) -> re.Match | None:
    return re.search(pattern, text, flags)


def _after(anchor: str, pattern: str, text: str) -> re.Match | None:
    """PATTERN's first match after ANCHOR (e.g. batch_size inside ``train_dataloader = dict(``)."""
    a = re.search(anchor, text, re.M)
    return re.compile(pattern).search(text, a.end()) if a else None


def _world_from_gpu_ids(text: str) -> int | None:
    m = _first(r"^gpu_ids\s*=\s*range\(\s*(\d+)\s*,\s*(\d+)\s*\)", text, re.M)
    if m:
        return int(m.group(2)) - int(m.group(1))
    m = _first(r"^gpu_ids\s*=\s*\[([\d,\s]*)\]", text, re.M)
    if m:
        return len([x for x in m.group(1).split(",") if x.strip()]) or None
    return None


def parse_config(text: str) -> dict[str, Any]:
    """Training facts from a config dump (2.x or 3.x); a fact not found stays None."""
    train: dict[str, Any] = {}
    m = _after(r"^optim_wrapper\s*=", r"\blr=" + _NUM, text) or _after(r"^optimizer\s*=", r"\blr=" + _NUM, text)
    train["lr"] = float(m.group(1)) if m else None
    m = _after(r"^train_dataloader\s*=", r"\bbatch_size=(\d+)", text) or _first(r"\bsamples_per_gpu=(\d+)", text)
    train["imgs_per_gpu"] = int(m.group(1)) if m else None
    m = _after(r"^train_cfg\s*=", r"\bmax_epochs=(\d+)", text) or _after(r"^runner\s*=", r"\bmax_epochs=(\d+)", text) \
        or _first(r"^total_epochs\s*=\s*(\d+)", text, re.M)
    train["max_epochs"] = int(m.group(1)) if m else None
    m = _first(r"\bmilestones=\[([\d,\s]*)\]", text) or _after(r"^lr_config\s*=", r"\bstep=\[([\d,\s]*)\]", text)
    train["milestones"] = [int(x) for x in m.group(1).split(",") if x.strip()] if m else None
    m = _after(r"^randomness\s*=", r"\bseed=(-?\d+)", text) or _first(r"^seed\s*=\s*(-?\d+)", text, re.M)
    train["seed"] = int(m.group(1)) if m else None
    train["world_size"] = _world_from_gpu_ids(text)
    m = _after(r"^auto_scale_lr\s*=", r"\benable=(True|False)", text)
    train["auto_scale_lr"] = (m.group(1) == "True") if m else None
    train["coco_train2017"] = "train2017" in text
    return train


def seed_from_log(text: str) -> int | None:
    m = _SEED_2X.search(text)
    return int(m.group(1)) if m else None


def combine(env: dict[str, Any], config: dict[str, Any], iters_per_epoch: int | None,
            logged_seed: int | None = None) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(env, train, notes): the world size from gpu_ids, else MMEngine's ``GPU number``, else
    the GPU lines, else (COCO only) the iterations per epoch; the seed from the config,
    else the one a 2.x log printed."""
    notes = []
    train = {k: v for k, v in config.items() if k not in ("coco_train2017",)}
    world = config.get("world_size") or env.pop("world_size", None)
    env.pop("world_size", None)
    if world is None and env.get("gpus"):
        world = env["gpus"]
        notes.append("world size taken from the GPU lines of the environment block")
    if world is None and iters_per_epoch and train.get("imgs_per_gpu") and config.get("coco_train2017"):
        world = max(1, round(COCO_TRAIN_IMAGES / (iters_per_epoch * train["imgs_per_gpu"])))
        notes.append(f"world size estimated from {iters_per_epoch} iterations per epoch on COCO train2017")
    train["world_size"] = world
    if train.get("seed") is None:
        # 2.x prints the seed it used; MMEngine's runtime block prints one even when it drew
        # it at random, so there only the config's randomness.seed counts as a seed.
        train["seed"] = logged_seed
    env.pop("logged_seed", None)
    train["iters_per_epoch"] = iters_per_epoch
    return env, complete_train(train), notes
