"""The reproduction checklist: everything besides the lr that breaks a reproduction.

Each check reads the *resolved* config (as the training run will see it, after
every cfg-option) and the recorded environment, and returns pass / warn / fail
with a detail and a fix hint. Pure functions of their inputs: no I/O beyond
stat() on data paths and a port bind.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from launcher.hardware.gpu_probe import Inventory
from launcher.planning.lr_scaling import LrProposal, fmt
from launcher.planning.presets import Preset
from launcher.stack.cuda_compiler import major_minor, version_tuple
from launcher.stack.setup_status import FAILED as FAILED_SETUP, SetupStatus

PASS, WARN, FAIL = "pass", "warn", "fail"
# A check that needs the training stack while `make run` still sets it up in the background
# (launcher/stack/setup_status.py): neither passed nor failed, and no launch until it runs.
WAITING = "waiting"
# What those checks are: everything read from the resolved config or the training interpreter.
NEEDS_STACK = ("lr", "seed", "schedule", "eval", "data", "weights", "opencv", "versions")


@dataclass
class Check:
    id: str
    status: str
    detail: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def check_config_keys(summary: dict[str, Any]) -> list[Check]:
    """A key no constructor takes (train_cfg.max_epoch, say) passes every other check and then kills
    each rank at start with a TypeError: one failing 'config' row naming it and the nearest valid
    name (launcher/stack/config_keys.py finds them in the training interpreter); none when all fit."""
    problems = summary.get("unknown_keys") or []
    if not problems:
        return []

    def said(p: dict[str, Any]) -> str:
        guess = f" (did you mean {p['nearest']}?)" if p.get("nearest") else ""
        if p.get("accepted") is None:
            return f"unknown type {p['key']}={p['owner']}{guess}"
        return f"unknown key {p['key']}: {p['owner']} takes no '{p['key'].rsplit('.', 1)[1]}'{guess}"

    more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    first = problems[0]
    if first.get("nearest") and first.get("accepted") is None:  # a type: the value is misspelled
        hint = f"spell it {first['key']}={first['nearest']}"
    elif first.get("nearest"):
        hint = f"spell it {first['key'].rsplit('.', 1)[0]}.{first['nearest']}"
    elif first.get("accepted"):
        hint = f"{first['owner']} takes: {', '.join(first['accepted'])}"
    else:
        hint = "drop the key from --cfg-options (or the preset's cfg_options)"
    return [Check("config", FAIL, "; ".join(said(p) for p in problems[:3]) + more + ": every rank would stop at "
                  "start", hint)]


def check_lr(preset: Preset, proposal: LrProposal, summary: dict[str, Any]) -> Check:
    auto = summary.get("auto_scale_lr") or {}
    if auto.get("enable"):
        return Check("lr", FAIL, f"auto_scale_lr is on (base batch {auto.get('base_batch_size')}): mmengine would "
                     f"scale the lr a second time", "drop auto_scale_lr.enable=True; frcnn-tui sets the lr explicitly")
    actual = summary.get("lr")
    if actual is None:
        return Check("lr", FAIL, "the config has no optim_wrapper.optimizer.lr", "check the mmdet config")
    rule = proposal.rule_lr
    if abs(actual - rule) <= 1e-9 + 1e-6 * rule:
        return Check("lr", PASS, f"lr {fmt(actual)} = {proposal.formula} ({proposal.rule} rule)")
    ratio = actual / rule
    if abs(actual - preset.base_lr) <= 1e-12 and proposal.total_batch != preset.base_batch_size:
        return Check("lr", FAIL, f"unscaled lr {fmt(actual)}: that is the lr for batch {preset.base_batch_size}, "
                     f"but the total batch is {proposal.total_batch} ({ratio:.2g}× the rule's {fmt(rule)})",
                     f"use lr {fmt(rule)} ({proposal.formula}), or --force to keep it")
    setting = "--lr" if proposal.override is not None else "optim_wrapper.optimizer.lr from --cfg-options"
    return Check("lr", WARN, f"lr {fmt(actual)} is {ratio:.3g}× the {proposal.rule} rule's {fmt(rule)} "
                 f"({proposal.formula})", f"drop {setting} to use {fmt(rule)}")


def check_seed(summary: dict[str, Any]) -> Check:
    seed = summary.get("seed")
    if seed is None:
        return Check("seed", WARN, "no randomness.seed: every run draws a new seed, so runs differ by a few 0.1 AP",
                     "pass --seed 0 (add --deterministic for bit-exact runs, at some speed cost)")
    mode = "deterministic" if summary.get("deterministic") else "not deterministic"
    return Check("seed", PASS, f"seed {seed} ({mode})", "" if summary.get("deterministic") else
                 "--deterministic makes cuDNN deterministic too (slower)")


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def check_opencv(preset: Preset, versions: dict[str, Any]) -> Check:
    cv2 = versions.get("cv2")
    ref = str(preset.reference_env.get("opencv", "") or "")
    if not cv2:
        return Check("opencv", FAIL, "OpenCV (cv2) does not import in the training interpreter",
                     "pip install opencv-python (make run installs it)")
    if not ref:
        return Check("opencv", PASS, f"OpenCV {cv2} (recorded; the preset names no reference)")
    # A reference such as "4" matches any 4.x; "4.5" any 4.5.x.
    if cv2 == ref or cv2.startswith(ref + ".") or _major_minor(cv2) == _major_minor(ref):
        return Check("opencv", PASS, f"OpenCV {cv2} matches the reference {ref}")
    return Check("opencv", WARN, f"OpenCV {cv2} differs from the reference {ref}: resize and JPEG decode differ "
                 f"slightly, worth a few 0.1 AP (recorded in plan.json)",
                 f"pip install 'opencv-python=={ref}.*' in the training env to match")


def check_schedule(preset: Preset, summary: dict[str, Any]) -> Check:
    epochs, milestones = summary.get("max_epochs"), summary.get("milestones")
    if summary.get("max_iters") and not epochs:
        return Check("schedule", FAIL, f"iteration-based schedule ({summary['max_iters']} iters), "
                     f"the preset is {preset.epochs} epochs", "use the preset's epoch-based train_cfg")
    problems = []
    if epochs != preset.epochs:
        problems.append(f"max_epochs={epochs}, the preset's is {preset.epochs}")
    if milestones is not None and list(milestones) != list(preset.milestones):
        problems.append(f"milestones={milestones}, the preset's are {preset.milestones}")
    repeat = ((summary.get("train") or {}).get("repeat")) or 1
    if repeat != preset.dataset_repeat:
        problems.append(f"RepeatDataset times={repeat}, the preset's is {preset.dataset_repeat}")
    if problems:
        return Check("schedule", FAIL, "schedule cut short or changed: " + "; ".join(problems),
                     f"drop the train_cfg / param_scheduler overrides; the reference needs the full "
                     f"{preset.effective_epochs} epochs")
    decay = "a cosine lr" if summary.get("lr_cosine") else f"milestones {milestones}"
    return Check("schedule", PASS, f"{epochs} epochs × repeat {repeat}, {decay}")


def check_eval(preset: Preset, summary: dict[str, Any], data_root: str) -> Check:
    ev = summary.get("evaluator") or {}
    metric = ev.get("metric")
    metrics = metric if isinstance(metric, list) else [metric]
    expected_ann = str(Path(data_root) / preset.val_ann_file)
    problems = []
    if ev.get("type") != "CocoMetric":
        problems.append(f"evaluator is {ev.get('type')}, not CocoMetric")
    if "bbox" not in metrics:
        problems.append(f"metric is {metric}, not bbox")
    if ev.get("format_only"):
        problems.append("format_only is on (no AP is computed)")
    ann = ev.get("ann_file")
    if ann and Path(ann) != Path(expected_ann):
        problems.append(f"val annotations are {ann}, the preset's are {expected_ann}")
    if summary.get("val_interval", 1) != 1:
        problems.append(f"val_interval={summary.get('val_interval')} (the reference evaluates every epoch)")
    if problems:
        return Check("eval", FAIL, "; ".join(problems), "use the preset's CocoMetric(bbox) on its val set, every epoch")
    if ann and not Path(ann).is_file():  # CocoMetric reads it at start: no evaluation, hence no AP, without it
        return Check("eval", FAIL, f"CocoMetric bbox on {ann}, which is missing: nothing can be evaluated",
                     "point --data-root at the dataset that holds it (the data check lists what else is missing)")
    return Check("eval", PASS, f"CocoMetric bbox on {ann}, every epoch")


def check_data(summary: dict[str, Any]) -> Check:
    missing = []
    for split in ("train", "val"):
        ds = summary.get(split) or {}
        for key in ("ann_file", "img_dir"):
            path = ds.get(key)
            if path and not Path(path).exists():
                missing.append(f"{split} {key.replace('_', ' ')} {path}")
    if missing:
        return Check("data", FAIL, "missing: " + "; ".join(missing),
                     "point --data-root at your COCO copy (annotations/, train2017/, val2017/)")
    train = (summary.get("train") or {}).get("data_root")
    return Check("data", PASS, f"annotations and images found under {train}")


def check_weights(summary: dict[str, Any]) -> Check:
    weights = summary.get("pretrained") or []
    if not weights:
        return Check("weights", PASS, "no pretrained weights needed (trains from scratch)")
    missing = [w for w in weights if not w.get("available")]
    if missing:
        first = missing[0]
        return Check("weights", WARN, f"{first['checkpoint']}: {first.get('problem')}",
                     f"copy the file to {first.get('path')} (torch hub cache), or pass "
                     f"--cfg-options model.backbone.init_cfg.checkpoint=/path/to/weights.pth")
    return Check("weights", PASS, "pretrained weights cached: " + ", ".join(w["checkpoint"] for w in weights))


def check_gpus(preset: Preset, inventory: Inventory, gpu_ids: list[int], cpu: bool, nproc: int) -> Check:
    if cpu:
        why = inventory.error or "CPU requested"
        return Check("gpus", PASS if not inventory.gpus else WARN,
                     f"CPU: {nproc} gloo workers ({why})",
                     "" if not inventory.gpus else "drop --cpu to use the GPUs")
    problems, busy = [], []
    for gid in gpu_ids:
        gpu = inventory.by_index(gid)
        if gpu is None:
            problems.append(f"GPU {gid} does not exist (found {len(inventory.gpus)})")
            continue
        if gpu.error:
            problems.append(f"GPU {gid}: {gpu.error}")
            continue
        if preset.min_gpu_memory_mib and gpu.memory_free_mib is not None \
                and gpu.memory_free_mib < preset.min_gpu_memory_mib:
            problems.append(f"GPU {gid} has {gpu.memory_free_mib} MiB free, the preset needs "
                            f"{preset.min_gpu_memory_mib} MiB")
        if gpu.processes:
            busy.append(f"GPU {gid} runs pid " + ", ".join(str(p.pid) for p in gpu.processes))
    if problems:
        return Check("gpus", FAIL, "; ".join(problems + busy), "pick other GPUs with --gpu-ids")
    if busy:
        return Check("gpus", WARN, "; ".join(busy) + " (shared GPUs slow training and risk OOM)",
                     "pick free GPUs with --gpu-ids, or wait")
    return Check("gpus", PASS, f"GPUs {','.join(map(str, gpu_ids))} free")


def check_versions(versions: dict[str, Any], ops: dict[str, str] | None = None) -> Check:
    if versions.get("error"):
        return Check("versions", FAIL, versions["error"], "frcnn-tui doctor")
    missing = [k for k in ("torch", "mmcv", "mmdet", "mmengine") if not versions.get(k)]
    if missing:
        errors = versions.get("import_errors") or {}
        return Check("versions", FAIL, "; ".join(f"{k}: {errors.get(k, 'missing')}" for k in missing),
                     "make run installs the training stack; frcnn-tui doctor shows the details")
    bad_ops = {k: v for k, v in (ops or {}).items() if v != "ok"}
    if bad_ops:
        return Check("versions", FAIL, "; ".join(f"{k}: {v}" for k, v in bad_ops.items()),
                     "mmcv was built without ops: rebuild it with MMCV_WITH_OPS=1 (make run does)")
    cuda = versions.get("cuda_build") or "none"
    return Check("versions", PASS, f"torch {versions['torch']} (CUDA {cuda}), mmcv {versions['mmcv']}, "
                 f"mmdet {versions['mmdet']}, mmengine {versions['mmengine']}, cv2 {versions.get('cv2')}")


def check_cuda(inventory: Inventory, versions: dict[str, Any]) -> Check | None:
    """For a GPU plan: can the training interpreter run on these GPUs at all? A CPU torch, a torch built
    for a newer CUDA than the driver offers, or mmcv ops compiled without CUDA (or for another CUDA)
    each crash the job at start. None when the versions are unknown (the versions check fails then)."""
    if versions.get("error") or not versions.get("torch"):
        return None
    torch, cuda, driver = versions["torch"], versions.get("cuda_build"), inventory.cuda_driver_version
    rebuild = "rebuild mmcv against this torch on the GPU machine: make setup (scripts/bootstrap.sh, README 'GPU machines')"
    if not cuda:
        return Check("cuda", FAIL, f"torch {torch} is a CPU build (CUDA none): GPU workers would crash at start",
                     "install a CUDA torch in the training interpreter (README 'GPU machines'), "
                     "or plan with --cpu to train on CPU")
    if driver and version_tuple(cuda)[0] > version_tuple(driver)[0]:
        return Check("cuda", FAIL, f"torch {torch} is built for CUDA {cuda}, newer than the driver's CUDA {driver} "
                     f"(driver {inventory.driver_version}): torch would see no GPU",
                     f"update the NVIDIA driver to one for CUDA {cuda}, or install a torch built for CUDA <= {driver}")
    mmcv_cuda = versions.get("mmcv_cuda")
    if mmcv_cuda == "not available":
        return Check("cuda", FAIL, f"mmcv {versions.get('mmcv')} has CPU ops only: RoIAlign and NMS on GPU tensors "
                     f"would fail", rebuild)
    if mmcv_cuda and major_minor(mmcv_cuda) != major_minor(cuda):
        return Check("cuda", FAIL, f"mmcv's ops are compiled for CUDA {mmcv_cuda}, torch is CUDA {cuda}", rebuild)
    detail = f"torch CUDA {cuda}, driver CUDA {driver or 'unknown'}, mmcv ops CUDA {mmcv_cuda or 'unknown'}"
    if driver and version_tuple(cuda) > version_tuple(driver):
        return Check("cuda", WARN, detail + ": torch's CUDA minor is newer than the driver's, which runs only "
                     "through CUDA minor-version compatibility (no PTX JIT)", f"update the driver to one for CUDA {cuda}")
    return Check("cuda", PASS, detail)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def check_port(port: int, host_is_local: bool = True) -> Check:
    if not host_is_local:
        return Check("port", PASS, f"rendezvous port {port} (on another node; not checked here)")
    if port_is_free(port):
        return Check("port", PASS, f"rendezvous port {port} is free")
    return Check("port", FAIL, f"port {port} is in use", "omit --port to pick a free one")


def stack_not_ready(setup: SetupStatus, gpu_plan: bool) -> list[Check]:
    """The checks that need the training stack while its background set-up runs (WAITING, saying how
    far it is), or one failing row with the set-up's failure and its log."""
    if setup.state == FAILED_SETUP:
        return [Check("versions", FAIL, setup.failure, "see the log; `make run` sets the stack up again")]
    hint = f"the checks run when the set-up is done, and a launch can start then (set-up log: {setup.log})"
    return [Check(id, WAITING, setup.waiting, hint) for id in NEEDS_STACK + (("cuda",) if gpu_plan else ())]


def worst(checks: list[Check]) -> str:
    statuses = {c.status for c in checks}
    for status in (FAIL, WAITING, WARN):
        if status in statuses:
            return status
    return PASS
