"""Config keys that no constructor takes: found before launch, not as a TypeError in every rank.

Runs in the training interpreter (env_inspect.py imports it there, beside itself), on the
resolved config. Each part that MMEngine's Runner hands to a constructor as keyword arguments
(the train/val/test loops, the optimizer wrapper and its optimizer, every param scheduler,
every hook, and each typed part of the model: backbone, neck, heads, losses, assigners...) that
an option touched is looked up in MMEngine's and mmdet's registries, and its keys are compared
with the parameters the class accepts. A ``**kwargs`` that an ``__init__`` forwards
(``super().__init__(**kwargs)``) is followed along the MRO; one it keeps for itself means any key
is taken. A misspelled key comes back with its dotted path (as --cfg-options spells it) and the
nearest accepted name (difflib).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Iterator

# Keys the Runner or a builder consumes before calling the constructor, per part.
_CONSUMED = {"loop": {"type", "by_epoch"}, "optim_wrapper": {"type", "optimizer", "paramwise_cfg", "constructor"},
             "optimizer": {"type"}, "scheduler": {"type", "convert_to_iter_based", "_scope_"},
             "hook": {"type", "priority"}, "model": {"type", "_scope_"}}
# Arguments the Runner or a builder passes itself: not the config's to set.
_GIVEN = {"runner", "dataloader", "evaluator", "optimizer", "epoch_length", "param_name", "params"}


def accepted_keys(target: Any) -> set[str] | None:
    """The keyword arguments TARGET (a class or a function) accepts; None when it takes any."""
    if not inspect.isclass(target):
        names, var_kw = _named(target)
        return names if var_kw is None else None
    names: set[str] = set()
    for klass in target.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        if klass is object or f"{klass.__module__}.{klass.__qualname__}" == "torch.nn.modules.module.Module":
            return names  # both refuse any keyword argument their subclasses pass on
        own, var_kw = _named(init)
        names |= own
        if var_kw is None:
            return names
        if not _forwards(init, var_kw):
            return None  # kept (self.args = kwargs, or read by hand): any key is taken
    return names


def _named(func: Any) -> tuple[set[str], str | None]:
    """FUNC's keyword-capable parameter names (self aside), and its **kwargs name if any."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return set(), "kwargs"  # no signature to read (a C type): assume it takes anything
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} - {"self"}
    var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
    return names, var_kw


def _forwards(init: Any, var_kw: str) -> bool:
    """Whether INIT passes its **VAR_KW on to a parent's __init__ (super().__init__(..., **kwargs)),
    not into something of its own (EMAHook's dict(type=ema_type, **kwargs) takes any key)."""
    try:
        source = inspect.getsource(init)
    except (OSError, TypeError):
        return False
    start = source.find(".__init__(")
    while start != -1:
        depth, end = 0, start + len(".__init__")
        for end in range(end, len(source)):  # to the call's closing parenthesis
            depth += {"(": 1, ")": -1}.get(source[end], 0)
            if depth == 0:
                break
        if f"**{var_kw}" in source[start:end]:
            return True
        start = source.find(".__init__(", end)
    return False


# Per kind: the MMEngine module whose import fills the root registry, and mmdet's registries
# (mmdet's own hooks, heads, coders...). MMEngine's are asked first: looking anything up in mmdet's
# imports all of mmdet.engine and mmdet.models (seconds), needed only for mmdet's own classes.
_HOMES = {"loop": ("mmengine.runner", "LOOPS", ("LOOPS",)),
          "optim_wrapper": ("mmengine.optim", "OPTIM_WRAPPERS", ("OPTIM_WRAPPERS",)),
          "optimizer": ("mmengine.optim", "OPTIMIZERS", ("OPTIMIZERS",)),
          "scheduler": ("mmengine.optim", "PARAM_SCHEDULERS", ("PARAM_SCHEDULERS",)),
          "hook": ("mmengine.hooks", "HOOKS", ("HOOKS",)),
          "model": (None, None, ("MODELS", "TASK_UTILS"))}


def _parts(cfg: Any) -> Iterator[tuple[str, str, Any]]:
    """(dotted key, kind, config dict) for each part the Runner builds with keywords."""
    train = cfg.get("train_cfg")
    if isinstance(train, dict):
        default = "EpochBasedTrainLoop" if train.get("by_epoch", True) else "IterBasedTrainLoop"
        yield "train_cfg", "loop", dict(train, type=train.get("type", default))
    for name, default in (("val_cfg", "ValLoop"), ("test_cfg", "TestLoop")):
        loop = cfg.get(name)
        if isinstance(loop, dict):
            yield name, "loop", dict(loop, type=loop.get("type", default))
    wrapper = cfg.get("optim_wrapper")
    # A custom constructor may read keys of its own: only the default one's are known here.
    default_constructor = "DefaultOptimWrapperConstructor"
    if isinstance(wrapper, dict) and wrapper.get("constructor", default_constructor) == default_constructor:
        yield "optim_wrapper", "optim_wrapper", dict(wrapper, type=wrapper.get("type", "OptimWrapper"))
        if isinstance(wrapper.get("optimizer"), dict):
            yield "optim_wrapper.optimizer", "optimizer", wrapper["optimizer"]
    schedulers = cfg.get("param_scheduler")
    listed = isinstance(schedulers, (list, tuple))
    for i, sched in enumerate(schedulers if listed else [schedulers]):
        if isinstance(sched, dict):
            yield f"param_scheduler.{i}" if listed else "param_scheduler", "scheduler", sched
    for name, hook in (cfg.get("default_hooks") or {}).items():
        if isinstance(hook, dict):
            yield f"default_hooks.{name}", "hook", hook
    for i, hook in enumerate(cfg.get("custom_hooks") or []):
        if isinstance(hook, dict):
            yield f"custom_hooks.{i}", "hook", hook
    yield from _model_parts("model", cfg.get("model"))


def _model_parts(key: str, node: Any) -> Iterator[tuple[str, str, Any]]:
    """Every typed dict in the model (heads, losses, coders, assigners...), outermost first."""
    if isinstance(node, dict):
        if "type" in node:
            yield key, "model", node
        for child, value in node.items():
            yield from _model_parts(f"{key}.{child}", value)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _model_parts(f"{key}.{i}", value)


def _registries(kind: str) -> Iterator[Any]:
    import importlib

    home, root, mmdet_names = _HOMES[kind]
    if home is not None:
        importlib.import_module(home)
        yield getattr(importlib.import_module("mmengine.registry"), root)
    from mmdet import registry

    for name in mmdet_names:
        yield getattr(registry, name)


def _lookup(kind: str, type_: Any) -> Any:
    if not isinstance(type_, str):
        return type_ if callable(type_) else None
    if kind == "optimizer":  # torch's own (what MMEngine registers), without importing mmengine.optim
        import torch.optim

        found = getattr(torch.optim, type_, None)
        if inspect.isclass(found) and issubclass(found, torch.optim.Optimizer):
            return found
    for registry in _registries(kind):
        try:
            found = registry.get(type_)
        except Exception:  # a registry whose modules fail to import: nothing to compare with
            found = None
        if found is not None:
            return found
    return None


def _touched(key: str, options: list[str]) -> bool:
    """Whether an option set one of the part at KEY's own keys, or replaced it or a folder holding it
    (optim_wrapper.optimizer.lr touches the optimizer, not the wrapper around it)."""
    return any(o.rpartition(".")[0] == key or o == key or key.startswith(o + ".") for o in options)


def unknown_keys(cfg: Any, options: list[str]) -> list[dict[str, Any]]:
    """Each key of CFG that its constructor would refuse: {key, owner, nearest, accepted}; a loop,
    optimizer, scheduler or hook type no registry knows is one too (key ending in .type). Only the
    parts OPTIONS (the dotted keys set on top of the config file) touched: mmdet's own configs train
    as they are, and looking the model's classes up imports all of mmdet.models (seconds)."""
    problems = []
    for key, kind, part in _parts(cfg):
        if not _touched(key, options):
            continue
        target = _lookup(kind, part["type"])
        if target is None:
            if kind != "model":  # the model holds types its heads build by hand (mmcv ops, nms)
                known = {name for registry in _registries(kind) for name in registry.module_dict}
                problems.append({"key": f"{key}.type", "owner": str(part["type"]),
                                 "nearest": _nearest(str(part["type"]), known), "accepted": None})
            continue
        if kind == "model" and not getattr(target, "__module__", "").startswith("mmdet."):
            continue  # torch and mmcv layers (norm_cfg's BN, act_cfg's ReLU) go through builders that pop keys
        accepted = accepted_keys(target)
        if accepted is None:
            continue
        accepted -= _GIVEN
        for name in part:
            if name not in accepted and name not in _CONSUMED[kind]:
                problems.append({"key": f"{key}.{name}", "owner": getattr(target, "__name__", str(part["type"])),
                                 "nearest": _nearest(name, accepted), "accepted": sorted(accepted)})
    return problems


def _nearest(name: str, choices: Any) -> str | None:
    found = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
