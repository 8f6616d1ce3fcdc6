"""A stand-in for make_plan's subprocess only: env_inspect.py's recorded output (tests/data/inspections).

make_plan resolves the config in the training interpreter (seconds: it imports torch, mmcv
and mmdet). Tests about the screens around it use this instead, so everything else runs
for real: preset lookup, device resolution, the lr proposal, every check, the command.

The recording is env_inspect's real output for the preset's config with the preset's own
pre-options; this applies what make_plan passes per request (data root, lr, batch, seed,
backend, warmup) the way env_inspect's resolve() does, and refuses anything it does not
know, so a new option in make_plan fails here instead of being silently ignored.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

from launcher.stack.env_inspect import build_parser

RECORDINGS = Path(__file__).resolve().parent / "data" / "inspections"

# make_plan's --options key -> where env_inspect's summary shows it (None: not summarized).
SUMMARY_FIELDS: dict[str, tuple[str, ...] | None] = {
    "optim_wrapper.optimizer.lr": ("lr",),
    "auto_scale_lr.enable": ("auto_scale_lr", "enable"),
    "train_dataloader.batch_size": ("train", "batch_size"),
    "randomness.seed": ("seed",),
    "randomness.deterministic": ("deterministic",),
    "env_cfg.dist_cfg.backend": ("backend",),
    "val_evaluator.collect_device": None,
    "test_evaluator.collect_device": None,
}


@functools.lru_cache(maxsize=None)
def _recording(config: str) -> dict[str, Any]:
    return json.loads((RECORDINGS / f"{Path(config).stem}.json").read_text())


def _set_data_root(summary: dict[str, Any], root: str, train_ann: str, val_ann: str) -> None:
    root = root if root.endswith("/") else root + "/"
    for split, ann in (("train", train_ann), ("val", val_ann)):
        ds = summary[split]
        ds["img_dir"] = root + ds["img_dir"][len(ds["data_root"]):]
        ds["data_root"], ds["ann_file"] = root, root + ann
    if summary["evaluator"].get("ann_file"):
        summary["evaluator"]["ann_file"] = root + val_ann


def recorded_inspect(python: str, args: list[str], timeout: float = 300) -> dict[str, Any]:
    """training_env.inspect's signature and output, from the recording."""
    ns = build_parser().parse_args(args)
    recording = _recording(ns.config)
    assert json.loads(ns.pre_options) == recording["pre_options"], \
        f"preset options changed since {ns.config} was recorded: run tests/data/inspections/record.py"
    assert not ns.ops and not ns.dump, "the recording has no ops results and writes no config"
    summary = copy.deepcopy(recording["config"]["summary"])
    if ns.data_root:
        _set_data_root(summary, ns.data_root, ns.train_ann, ns.val_ann)
    if ns.warmup_iters is not None:
        summary["warmup_iters"] = ns.warmup_iters
    for key, value, raw in json.loads(ns.options):
        assert not raw and key in SUMMARY_FIELDS, f"the recorded inspection cannot apply {key}={value!r}"
        where = SUMMARY_FIELDS[key]
        if where is not None:
            node = summary
            for part in where[:-1]:
                node = node[part]
            node[where[-1]] = value
    return {"versions": copy.deepcopy(recording["versions"]),
            "config": {"config_path": recording["config"]["config_path"], "summary": summary}}


def use_recorded_inspection(monkeypatch) -> None:
    monkeypatch.setattr("launcher.stack.training_env.inspect", recorded_inspect)
