"""Inspect the training environment, and resolve a config, in the *training* interpreter.

Run as a file (`python env_inspect.py ARGS`), never imported by frcnn-tui itself:
torch, mmcv and mmdet may only exist in another interpreter (a conda env), and
importing them costs seconds that the TUI's first frame must not wait for. It
prints exactly one JSON object on stdout; failures are values in that object.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path


def _version(module: str) -> tuple[str | None, str | None]:
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # ImportError, or a broken build raising anything
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return str(getattr(mod, "__version__", "unknown")), None


def _mmcv_cuda() -> str | None:
    """The CUDA that mmcv's compiled ops were built for ('not available': CPU ops only; None: no ops).
    Asked of the extension module itself: importing mmcv.ops loads every op's Python side (seconds)."""
    try:
        from mmcv.utils import ext_loader

        return str(ext_loader.load_ext("_ext", ["get_compiling_cuda_version"]).get_compiling_cuda_version())
    except Exception:
        return None


def versions() -> dict:
    out: dict = {"python": sys.version.split()[0], "executable": sys.executable, "import_errors": {}}
    for key, module in (("torch", "torch"), ("mmcv", "mmcv"), ("mmdet", "mmdet"), ("mmengine", "mmengine"),
                        ("cv2", "cv2"), ("pycocotools", "pycocotools"), ("numpy", "numpy")):
        out[key], err = _version(module)
        if err:
            out["import_errors"][key] = err
    if out["torch"]:
        import torch

        out["cuda_build"] = torch.version.cuda
        out["cuda_available"] = bool(torch.cuda.is_available())
        out["cuda_device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
    if out["mmcv"]:
        out["mmcv_cuda"] = _mmcv_cuda()
    if out["pycocotools"] == "unknown":
        from importlib.metadata import PackageNotFoundError, version

        try:
            out["pycocotools"] = version("pycocotools")
        except PackageNotFoundError:
            pass
    return out


def check_ops() -> dict:
    """Run the compiled ops Faster R-CNN needs on a tiny CPU tensor."""
    results = {}
    try:
        import torch
        from mmcv.ops import RoIAlign

        feat = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
        rois = torch.tensor([[0.0, 0.0, 0.0, 4.0, 4.0]])
        out = RoIAlign((2, 2), 1.0, 0)(feat, rois)
        ok = tuple(out.shape) == (1, 1, 2, 2) and bool(torch.isfinite(out).all())
        results["roi_align"] = "ok" if ok else f"unexpected output {out.tolist()}"
    except Exception as exc:
        results["roi_align"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        import torch
        from mmcv.ops import batched_nms

        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
        scores = torch.tensor([0.9, 0.8, 0.7])
        _, keep = batched_nms(boxes, scores, torch.zeros(3, dtype=torch.long), dict(type="nms", iou_threshold=0.5))
        results["batched_nms"] = "ok" if keep.tolist() == [0, 2] else f"kept {keep.tolist()}, expected [0, 2]"
    except Exception as exc:
        results["batched_nms"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return results


# -- config resolution ----------------------------------------------------------

WRAPPERS = ("RepeatDataset", "ClassBalancedDataset")


def innermost_dataset(ds):
    while ds is not None and ds.get("type") in WRAPPERS:
        ds = ds.get("dataset")
    return ds


def resolve_config_path(config: str, preset_dir: str) -> Path:
    path = Path(config).expanduser()
    if path.is_absolute():
        return path
    if config.startswith(("./", "../")):
        return (Path(preset_dir) / path).resolve()
    # find_spec, not import: mmdet's __init__ imports mmcv, which resolving a path doesn't need.
    spec = importlib.util.find_spec("mmdet")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"mmdet is not installed in {sys.executable}, so '{config}' cannot be found")
    return Path(list(spec.submodule_search_locations)[0]) / ".mim" / "configs" / path


def _apply_options(cfg, options: list) -> None:
    from mmengine.config import DictAction

    for key, value, raw in options:
        # Raw strings come from a user's --cfg-options k=v and get mmengine's own parsing.
        cfg.merge_from_dict({key: DictAction._parse_iterable(value) if raw else value})


def _set_data_root(cfg, root: str, train_ann: str | None, val_ann: str | None) -> None:
    root = root if root.endswith("/") else root + "/"
    for split, ann in (("train", train_ann), ("val", val_ann), ("test", val_ann)):
        loader = cfg.get(f"{split}_dataloader")
        ds = innermost_dataset(loader.get("dataset")) if loader else None
        if ds is None:
            continue
        ds["data_root"] = root
        if ann:
            ds["ann_file"] = ann
    for split in ("val", "test"):
        evaluator = cfg.get(f"{split}_evaluator")
        if isinstance(evaluator, dict) and "ann_file" in evaluator and val_ann:
            evaluator["ann_file"] = root + val_ann


def _set_dataset(cfg, spec: dict) -> None:
    """A user's own dataset (launcher/data/plan_data.py builds SPEC): every split's files, the classes in
    mmdet's label order, the box head's num_classes, and per-class AP from the evaluators."""
    import copy

    classes = tuple(spec["classes"])
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if split == "test" and loader is not None and loader is cfg.get("val_dataloader"):
            loader = cfg["test_dataloader"] = copy.deepcopy(loader)  # test may be another split
        ds = innermost_dataset(loader.get("dataset")) if loader else None
        if ds is None:
            continue
        files = spec[split]
        ds["data_root"] = spec["root"]
        ds["ann_file"] = files["ann_file"]
        ds["data_prefix"] = dict(img=files["img_dir"].rstrip("/") + "/")
        ds["metainfo"] = dict(classes=classes)
    for split in ("val", "test"):
        evaluator = cfg.get(f"{split}_evaluator")
        if split == "test" and evaluator is not None and evaluator is cfg.get("val_evaluator"):
            evaluator = cfg["test_evaluator"] = copy.deepcopy(evaluator)
        for metric in evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]:
            if isinstance(metric, dict) and metric.get("type") == "CocoMetric":
                metric["ann_file"] = spec[split]["ann_file"]
                metric["classwise"] = True
    heads = ((cfg.get("model") or {}).get("roi_head") or {}).get("bbox_head")
    for head in heads if isinstance(heads, (list, tuple)) else [heads]:
        if isinstance(head, dict):
            head["num_classes"] = len(classes)
    for key, value in (("metainfo", dict(classes=classes)), ("classes", classes)):
        if key in cfg:  # the config's own top-level names for them (the demo's): the dump reads as what runs
            cfg[key] = value


def _classes(cfg) -> tuple[list | None, int | None]:
    """The classes the train set is given (mmdet's label order) and the box head's num_classes."""
    ds = innermost_dataset(((cfg.get("train_dataloader") or {}).get("dataset"))) or {}
    classes = (ds.get("metainfo") or {}).get("classes")
    head = ((cfg.get("model") or {}).get("roi_head") or {}).get("bbox_head")
    head = head[-1] if isinstance(head, (list, tuple)) and head else head
    return (list(classes) if classes else None), (head.get("num_classes") if isinstance(head, dict) else None)


def _rescale_warmup(cfg, iters: int) -> None:
    for sched in cfg.get("param_scheduler") or []:
        if sched.get("type") == "LinearLR" and not sched.get("by_epoch", True):
            sched["end"] = iters


def _pretrained(cfg) -> list[dict]:
    """Every Pretrained init_cfg in the model, and whether it loads offline."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            init = node.get("init_cfg")
            if isinstance(init, dict) and init.get("type") == "Pretrained" and init.get("checkpoint"):
                found.append(str(init["checkpoint"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.get("model"))
    if cfg.get("load_from"):
        found.append(str(cfg.load_from))
    return [_weight_status(ckpt) for ckpt in found]


def _weight_status(ckpt: str) -> dict:
    import torch

    hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
    entry = {"checkpoint": ckpt, "available": False, "path": None, "problem": None}
    if ckpt.startswith(("torchvision://", "modelzoo://")):
        import mmengine

        urls = json.loads((Path(mmengine.__file__).parent / "hub" / "torchvision_0.12.json").read_text())
        url = urls.get(ckpt.split("://", 1)[1])
        path = hub_dir / url.rsplit("/", 1)[1] if url else None
        entry["path"] = str(path) if path else None
        if importlib.util.find_spec("torchvision") is None:
            # mmengine resolves torchvision:// through torchvision itself.
            entry["problem"] = "torchvision is not installed, so mmengine cannot resolve torchvision:// URLs"
        elif path is None or not path.is_file():
            entry["problem"] = f"not in the torch hub cache ({path}); a launch would try to download it"
        else:
            entry["available"] = True
    elif ckpt.startswith(("http://", "https://")):
        path = hub_dir / ckpt.rsplit("/", 1)[1]
        entry["path"] = str(path)
        entry["available"] = path.is_file()
        if not entry["available"]:
            entry["problem"] = f"not in the torch hub cache ({path}); a launch would try to download it"
    else:
        entry["path"] = ckpt
        entry["available"] = Path(ckpt).expanduser().is_file()
        if not entry["available"]:
            entry["problem"] = f"file not found: {ckpt}"
    return entry


def _checkpoint_head(path: str) -> dict:
    """How many classes the box head of the checkpoint at PATH was trained for (its fc_cls has one
    row per class plus background), read with torch's safe loader: a file it refuses is said so."""
    out: dict = {"path": path, "num_classes": None, "problem": None}
    if not Path(path).expanduser().is_file():
        out["problem"] = f"file not found: {path}"
        return out
    try:
        import torch

        ckpt = torch.load(str(Path(path).expanduser()), map_location="cpu", weights_only=True)
    except Exception as exc:  # not a checkpoint, or one holding more than tensors and plain data
        out["problem"] = f"torch's safe loader refuses it ({type(exc).__name__}: {str(exc).split('.')[0][:100]})"
        out["unreadable"] = True  # MMEngine's load_checkpoint uses the same loader: training would stop there
        return out
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else {}
    weight = next((v for k, v in state.items() if k.endswith("bbox_head.fc_cls.weight")), None)
    if weight is not None:
        out["num_classes"] = int(weight.shape[0]) - 1
    return out


def _dataset_summary(cfg, split: str) -> dict | None:
    loader = cfg.get(f"{split}_dataloader")
    if not loader:
        return None
    outer = loader.get("dataset") or {}
    ds = innermost_dataset(outer) or {}
    root = ds.get("data_root") or ""
    ann = ds.get("ann_file") or ""
    prefix = ds.get("data_prefix") or {}
    img = prefix.get("img") or prefix.get("img_path") or ""
    return {
        "type": ds.get("type"),
        "data_root": root,
        "ann_file": os.path.join(root, ann) if ann else None,
        "img_dir": os.path.join(root, img) if (root or img) else None,
        "repeat": int(outer.get("times", 1)) if outer.get("type") == "RepeatDataset" else 1,
        "batch_size": loader.get("batch_size"),
    }


def summarize(cfg) -> dict:
    optim = cfg.get("optim_wrapper", {}) or {}
    optimizer = optim.get("optimizer", {}) or {}
    train_cfg = cfg.get("train_cfg", {}) or {}
    milestones, warmup, start_factor, gamma, cosine = None, None, None, None, None
    for sched in cfg.get("param_scheduler") or []:
        if sched.get("type") == "MultiStepLR":
            milestones = list(sched.get("milestones", []))
            gamma = sched.get("gamma", 0.1)  # MultiStepLR's default
        if sched.get("type") == "CosineAnnealingLR":
            # MMEngine's defaults: begin 0, T_max = end - begin, a floor of 0 unless eta_min
            # (absolute) or eta_min_ratio (of the lr) says otherwise.
            begin = sched.get("begin", 0)
            t_max = sched.get("T_max") or (sched["end"] - begin if isinstance(sched.get("end"), int) else None)
            cosine = {"begin": begin, "T_max": t_max, "eta_min": sched.get("eta_min"),
                      "eta_min_ratio": sched.get("eta_min_ratio"), "by_epoch": bool(sched.get("by_epoch", True)),
                      "iter_based": bool(sched.get("convert_to_iter_based", False))}
        if sched.get("type") == "LinearLR" and not sched.get("by_epoch", True):
            warmup = sched.get("end")
            start_factor = sched.get("start_factor", 1.0 / 3)  # LinearLR's default
    randomness = cfg.get("randomness") or {}
    auto = cfg.get("auto_scale_lr") or {}
    evaluator = cfg.get("val_evaluator") or {}
    if isinstance(evaluator, (list, tuple)):
        evaluator = evaluator[0] if evaluator else {}
    metric = evaluator.get("metric")
    classes, num_classes = _classes(cfg)
    logger = (cfg.get("default_hooks") or {}).get("logger") or {}
    return {
        "lr": optimizer.get("lr"),
        "optimizer": optimizer.get("type"),
        "auto_scale_lr": {"enable": bool(auto.get("enable", False)), "base_batch_size": auto.get("base_batch_size")},
        "max_epochs": train_cfg.get("max_epochs"),
        "max_iters": train_cfg.get("max_iters"),
        "val_interval": train_cfg.get("val_interval", 1),
        "milestones": milestones,
        "warmup_iters": warmup,
        # With lr and milestones (or lr_cosine), the whole schedule: the monitor checks a resumed lr against it.
        "warmup_start_factor": start_factor,
        "lr_gamma": gamma,
        "lr_cosine": cosine,
        "seed": randomness.get("seed"),
        "deterministic": bool(randomness.get("deterministic", False)),
        "evaluator": {
            "type": evaluator.get("type"),
            "metric": list(metric) if isinstance(metric, (list, tuple)) else metric,
            "ann_file": evaluator.get("ann_file"),
            "format_only": bool(evaluator.get("format_only", False)),
            "classwise": bool(evaluator.get("classwise", False)),
        },
        "classes": classes,
        "num_classes": num_classes,
        "train": _dataset_summary(cfg, "train"),
        "val": _dataset_summary(cfg, "val"),
        "test": _dataset_summary(cfg, "test"),
        "pretrained": _pretrained(cfg),
        "load_from": _checkpoint_head(str(cfg.load_from)) if cfg.get("load_from") else None,
        "log_interval": logger.get("interval"),
        "backend": ((cfg.get("env_cfg") or {}).get("dist_cfg") or {}).get("backend"),
    }


def _unknown_keys(cfg, args) -> list[dict]:
    """Keys no constructor takes (config_keys.py), in the parts the preset's, the plan's and the
    user's options set. Empty when mmdet cannot be imported: the versions check says why."""
    try:
        import config_keys  # beside this file: run as a script, its folder is on sys.path
    except ImportError:
        from launcher.stack import config_keys
    options = [key for key, _value, _raw in json.loads(args.pre_options) + json.loads(args.options)]
    try:
        return config_keys.unknown_keys(cfg, options)
    except ImportError:
        return []


def resolve(args) -> dict:
    from mmengine.config import Config

    path = resolve_config_path(args.config, args.preset_dir)
    if not path.is_file():
        return {"error": f"config file not found: {path}", "config_path": str(path)}
    cfg = Config.fromfile(str(path))
    _apply_options(cfg, json.loads(args.pre_options))
    if args.data_root:
        _set_data_root(cfg, args.data_root, args.train_ann, args.val_ann)
    if args.dataset:
        _set_dataset(cfg, json.loads(args.dataset))
    if args.warmup_iters is not None:
        _rescale_warmup(cfg, args.warmup_iters)
    _apply_options(cfg, json.loads(args.options))
    out = {"config_path": str(path), "summary": dict(summarize(cfg), unknown_keys=_unknown_keys(cfg, args))}
    if args.dump:
        cfg.dump(args.dump)
        out["dumped"] = args.dump
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", action="store_true", help="run RoIAlign and batched_nms")
    parser.add_argument("--config")
    parser.add_argument("--preset-dir", default=".")
    parser.add_argument("--pre-options", default="[]", help="JSON [[key, value, raw], ...] applied first")
    parser.add_argument("--options", default="[]", help="JSON [[key, value, raw], ...] applied last")
    parser.add_argument("--data-root")
    parser.add_argument("--train-ann")
    parser.add_argument("--val-ann")
    parser.add_argument("--dataset", help="JSON: a user's own dataset (launcher/data/plan_data.py)")
    parser.add_argument("--warmup-iters", type=int)
    parser.add_argument("--dump")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: dict = {"versions": versions()}
    if args.ops:
        result["ops"] = check_ops()
    if args.config:
        try:
            result["config"] = resolve(args)
        except Exception as exc:
            result["config"] = {"error": f"{type(exc).__name__}: {exc}".splitlines()[0],
                                "traceback": traceback.format_exc()}
    # Only this line goes to stdout; mmengine's own chatter is on stderr or before it.
    sys.stdout.write("\n" + json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
