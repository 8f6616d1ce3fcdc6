"""Cross-check a preset's numbers against its real mmdet config (`presets --check`)."""

from __future__ import annotations

import json
from pathlib import Path

from launcher.stack import training_env
from launcher.planning.presets import Preset


def cross_check(preset: Preset, python: str | None = None) -> list[str]:
    """Disagreements between the preset and Config.fromfile of its config, as sentences."""
    interpreter = training_env.training_python(python)
    report = training_env.inspect(interpreter, ["--config", preset.config, "--preset-dir",
                                                str(Path(preset.source).parent), "--options", json.dumps([])])
    config = report.get("config") or {}
    if "summary" not in config:
        return [f"cannot load its config: {config.get('error') or report.get('error')}"]
    s = config["summary"]
    train = s.get("train") or {}
    pairs = [
        ("lr", s.get("lr"), preset.base_lr),
        ("optimizer", (s.get("optimizer") or "").lower(), preset.optimizer),
        ("max_epochs", s.get("max_epochs"), preset.epochs),
        ("milestones", s.get("milestones"), preset.milestones),
        ("imgs_per_gpu (train_dataloader.batch_size)", train.get("batch_size"), preset.imgs_per_gpu),
        ("base_batch_size (auto_scale_lr)", (s.get("auto_scale_lr") or {}).get("base_batch_size"),
         preset.base_batch_size),
        ("warmup_iters", s.get("warmup_iters") or 0, preset.warmup_iters),
        ("dataset_repeat", train.get("repeat", 1), preset.dataset_repeat),
    ]
    problems = [f"{name}: preset says {want!r}, the config has {got!r}" for name, got, want in pairs
                if got is not None and got != want and not (isinstance(got, float) and abs(got - want) < 1e-12)]
    ann = (s.get("evaluator") or {}).get("ann_file") or ""
    if ann and not ann.endswith(preset.val_ann_file):
        problems.append(f"val_ann_file: preset says {preset.val_ann_file!r}, the config evaluates on {ann!r}")
    return problems
