"""`data check PATH --save-preset NAME --base PRESET`: a user preset that is PRESET's recipe on this data,
so the next plan is `frcnn-tui plan --preset NAME`. Written into the user's preset folder as TOML (the
stdlib reads TOML but does not write it: the few value types a preset holds are written here)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from launcher import paths
from launcher.data.coco_check import DataReport
from launcher.errors import UserError
from launcher.planning.presets import Preset, load_presets

__all__ = ["save_preset"]

# What describes COCO rather than the recipe: the data is this dataset's now, and a COCO reference AP
# or environment says nothing about it.
_NOT_CARRIED = ("name", "description", "source", "data", "dataset", "data_root", "train_ann_file", "val_ann_file",
                "reference_ap", "reference_env", "reference_log_url")


def _toml(value: Any) -> str:
    """A TOML value. JSON's strings, numbers and arrays are TOML's too; tables are inline tables."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    raise UserError(f"cannot write {value!r} into a preset")


def save_preset(report: DataReport, name: str, base_name: str) -> Path:
    """Write NAME.toml (never over an existing file or a shipped preset's name); its path."""
    layout = report.layout
    if layout.kind == "explicit":
        raise UserError("--save-preset needs a dataset folder PATH (a preset names the folder, not four files)")
    if not name or any(c.isspace() or c in "/\\" for c in name) or name.startswith("."):
        raise UserError(f"--save-preset NAME must be one word (no spaces or slashes), got {name!r}")
    catalog = load_presets()
    base: Preset = catalog.get(base_name)
    if name in catalog.presets:
        raise UserError(f"a preset named {name} exists ({catalog.presets[name].source}); choose another name")
    if report.status == "fail":
        raise UserError("the data check fails (see above): fix the data before saving a preset for it")
    out = paths.user_presets_dir() / f"{name}.toml"
    values = {f.name: getattr(base, f.name) for f in fields(Preset) if f.name not in _NOT_CARRIED}
    if base.config.startswith(("./", "../")):  # relative to the base's own folder, not the user's
        values["config"] = str(base.config_path())
    if values.get("lr_rule") is None:
        values.pop("lr_rule")
    options = values.pop("cfg_options")
    lines = [f"# Saved by `frcnn-tui data check {layout.root} --save-preset {name} --base {base.name}`.",
             f"name = {_toml(name)}",
             f"description = {_toml(f'{base.name} on {layout.root.name} ({len(report.classes)} classes)')}",
             f"data = {_toml(str(layout.root))}"]
    lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    if options:  # a table last: every key after its header would belong to it
        lines += ["", "[cfg_options]"] + [f"{json.dumps(str(k))} = {_toml(v)}" for k, v in options.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with out.open("x", encoding="utf-8") as f:  # "x": a file that appeared meanwhile is never replaced
            f.write("\n".join(lines) + "\n")
    except FileExistsError:
        raise UserError(f"{out} exists (not a valid preset, so not listed); choose another name") from None
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    return out
