"""Presets: a named recipe (mmdet config + the numbers the lr rule and checklist need).

Shipped presets live in presets/*.toml; the user's own in <config dir>/presets/*.toml
override shipped ones by name. Every preset is validated at load: a bad one yields a
one-line PresetError naming the file, the field and the problem, and the others
still load.
"""

from __future__ import annotations

import functools
import importlib.util
import marshal
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from launcher import paths
from launcher.planning.lr_scaling import RULES

OPTIMIZERS = ("sgd", "adam", "adamw")
DATASETS = ("coco", "synthetic-shapes")


@dataclass
class Preset:
    name: str
    description: str
    config: str  # as written in the file
    base_lr: float
    base_batch_size: int
    imgs_per_gpu: int
    epochs: int
    milestones: list[int]
    optimizer: str = "sgd"
    lr_rule: str | None = None  # None: by optimizer (see plan.default_rule)
    warmup_iters: int = 0
    dataset: str = "coco"
    data_root: str = "data/coco/"
    train_ann_file: str = "annotations/instances_train2017.json"
    val_ann_file: str = "annotations/instances_val2017.json"
    dataset_repeat: int = 1  # ms-3x: 12 epochs x RepeatDataset(3)
    reference_ap: float | None = None  # box AP in percent, as the model zoo writes it
    reference_env: dict[str, Any] = field(default_factory=dict)
    # Where the model zoo's official training log is (shown by reference commands; never downloaded).
    reference_log_url: str | None = None
    default_cpu_workers: int = 2
    min_gpu_memory_mib: int = 0
    cfg_options: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # your own dataset's folder (launcher/data/; `data check --save-preset` writes it)
    source: str = ""  # the file it came from

    @property
    def effective_epochs(self) -> int:
        return self.epochs * self.dataset_repeat

    @property
    def decay_text(self) -> str:
        """How the lr falls, in words: the milestones, or none (the demo's config decays it along a cosine)."""
        return f"milestones {self.milestones}" if self.milestones else "no lr milestones (the config's own decay)"

    @property
    def is_adam_family(self) -> bool:
        return self.optimizer in ("adam", "adamw")

    def config_path(self) -> Path:
        """Absolute path of the mmdet config (may not exist; the checklist says so)."""
        return resolve_config(self.config, Path(self.source).parent if self.source else Path.cwd())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["config_path"] = str(self.config_path())
        return data


class PresetError(Exception):
    """One line: file, field, problem."""

    def __init__(self, source: str, field_name: str | None, problem: str):
        self.source, self.field_name, self.problem = source, field_name, problem
        where = f"{source}: field '{field_name}'" if field_name else source
        super().__init__(f"{where}: {problem}")


@functools.cache  # asked twice per preset at every load: a find_spec walks sys.path each time
def mmdet_configs_root() -> Path | None:
    """mmdet's bundled configs, found without importing mmdet (start-up must stay light)."""
    spec = importlib.util.find_spec("mmdet")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / ".mim" / "configs"


def resolve_config(config: str, preset_dir: Path) -> Path:
    path = Path(config).expanduser()
    if path.is_absolute():
        return path
    if config.startswith(("./", "../")):
        return (preset_dir / path).resolve()
    root = mmdet_configs_root()
    return (root / path) if root else Path("mmdet/.mim/configs") / path


# field -> (types accepted, required)
_SCHEMA: dict[str, tuple[tuple[type, ...], bool]] = {
    "name": ((str,), True),
    "description": ((str,), True),
    "config": ((str,), True),
    "base_lr": ((float, int), True),
    "base_batch_size": ((int,), True),
    "imgs_per_gpu": ((int,), True),
    "epochs": ((int,), True),
    "milestones": ((list,), True),
    "optimizer": ((str,), False),
    "lr_rule": ((str,), False),
    "warmup_iters": ((int,), False),
    "dataset": ((str,), False),
    "data_root": ((str,), False),
    "train_ann_file": ((str,), False),
    "val_ann_file": ((str,), False),
    "dataset_repeat": ((int,), False),
    "reference_ap": ((float, int), False),
    "reference_env": ((dict,), False),
    "reference_log_url": ((str,), False),
    "default_cpu_workers": ((int,), False),
    "min_gpu_memory_mib": ((int,), False),
    "cfg_options": ((dict,), False),
    "data": ((str,), False),
}
_POSITIVE = ("base_lr", "base_batch_size", "imgs_per_gpu", "epochs", "dataset_repeat", "default_cpu_workers")


def _type_name(types: tuple[type, ...]) -> str:
    return {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"}[types[0]]


def parse_preset(data: dict[str, Any], source: str) -> Preset:
    for key in data:
        if key not in _SCHEMA:
            raise PresetError(source, key, "unknown field (known: " + ", ".join(_SCHEMA) + ")")
    for key, (types, required) in _SCHEMA.items():
        if key not in data:
            if required:
                raise PresetError(source, key, "missing")
            continue
        value = data[key]
        # bool is an int subclass in Python; a preset saying base_batch_size = true is a typo.
        if isinstance(value, bool) or not isinstance(value, types):
            raise PresetError(source, key, f"expected {_type_name(types)}, got {value!r}")
    for key in ("base_lr", "reference_ap"):
        # TOML spells inf and nan; neither is a learning rate or an AP.
        if key in data and not math.isfinite(data[key]):
            raise PresetError(source, key, f"must be a finite number, got {data[key]!r}")
    for key in _POSITIVE:
        if key in data and data[key] <= 0:
            raise PresetError(source, key, f"must be > 0, got {data[key]!r}")
    for key in ("warmup_iters", "min_gpu_memory_mib"):
        if data.get(key, 0) < 0:
            raise PresetError(source, key, f"must be >= 0, got {data[key]!r}")
    if not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in data["milestones"]):
        raise PresetError(source, "milestones", f"expected a list of positive integers, got {data['milestones']!r}")
    if any(m > data["epochs"] for m in data["milestones"]):
        raise PresetError(source, "milestones", f"{data['milestones']!r} goes beyond the {data['epochs']} epochs "
                                                f"(a milestone there never decays the lr)")
    if "reference_ap" in data and not 0 <= data["reference_ap"] <= 100:
        raise PresetError(source, "reference_ap", f"is a box AP in percent (0-100), got {data['reference_ap']!r}")
    if data.get("optimizer", "sgd") not in OPTIMIZERS:
        raise PresetError(source, "optimizer", f"expected one of {', '.join(OPTIMIZERS)}, got {data['optimizer']!r}")
    if "lr_rule" in data and data["lr_rule"] not in RULES:
        raise PresetError(source, "lr_rule", f"expected one of {', '.join(RULES)}, got {data['lr_rule']!r}")
    if data.get("dataset", "coco") not in DATASETS:
        raise PresetError(source, "dataset", f"expected one of {', '.join(DATASETS)}, got {data['dataset']!r}")
    if not data["name"] or any(c.isspace() for c in data["name"]):
        raise PresetError(source, "name", f"must be a non-empty word without spaces, got {data['name']!r}")
    preset = Preset(**{**data, "base_lr": float(data["base_lr"]), "source": source})
    if preset.reference_ap is not None:
        preset.reference_ap = float(preset.reference_ap)
    config = preset.config_path()
    # An mmdet-relative config can only be checked where mmdet is installed; the
    # checklist re-checks it in the training interpreter.
    if (Path(preset.config).is_absolute() or preset.config.startswith(("./", "../")) or mmdet_configs_root()) \
            and not config.is_file():
        raise PresetError(source, "config", f"config file not found: {config}")
    return preset


def read_preset_toml(path: Path) -> dict[str, Any]:
    """The file's TOML as a dict (a PresetError if it cannot be read or parsed)."""
    import tomllib  # ~3 ms of CPU to import: only when the parse cache misses (_ParseCache)

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(str(path), None, f"TOML syntax error: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(str(path), None, f"cannot read: {exc}") from None


def load_preset_file(path: Path) -> Preset:
    return parse_preset(read_preset_toml(path), str(path))


class _ParseCache:
    """Each preset file's parsed TOML, kept between runs (cache_dir()/presets.marshal).

    Importing tomllib and parsing the shipped files cost the TUI's first frame ~5 ms of CPU
    (bench/findings.md "startup-first-frame"); a hit costs a stat. Only the parse is cached:
    every preset is still validated at each load (its config file may have come or gone).
    An entry is used only while the file's (mtime_ns, size, inode) are unchanged, and a file
    modified in the last 2 s is not stored (its mtime could still collide with a second edit
    on a coarse-clock filesystem). Whatever goes wrong with the cache (missing, corrupt,
    unwritable, a TOML value marshal cannot store) only means parsing the files again.
    """

    VERSION = 1
    RACY_NS = 2_000_000_000

    def __init__(self) -> None:
        self.path: Path | None = None
        self.entries: dict[str, list[Any]] = {}
        self.used: dict[str, list[Any]] = {}
        try:
            self.path = paths.cache_dir() / "presets.marshal"
            version, entries = marshal.loads(self.path.read_bytes())
            if version == self.VERSION and isinstance(entries, dict):
                self.entries = entries
        except Exception:  # no cache yet, or one this version cannot read: parse the files
            pass

    def read(self, path: Path) -> dict[str, Any]:
        key = str(path)
        try:
            st = path.stat()
        except OSError:
            return read_preset_toml(path)  # says why it cannot be read
        stamp = [st.st_mtime_ns, st.st_size, st.st_ino]
        entry = self.entries.get(key)
        if entry is not None and entry[:3] == stamp:
            self.used[key] = entry
            return entry[3]
        data = read_preset_toml(path)
        if time.time_ns() - st.st_mtime_ns >= self.RACY_NS:
            self.used[key] = [*stamp, data]
        return data

    def save(self) -> None:
        """Keep the entries this load used (files gone or changed drop out), if any changed."""
        if self.path is None or self.used == self.entries:
            return
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(marshal.dumps((self.VERSION, self.used)))
            os.replace(tmp, self.path)  # readers see the old file or the new, never half of one
        except (OSError, ValueError):  # ValueError: a TOML date or time, which marshal cannot store
            tmp.unlink(missing_ok=True)


@dataclass
class PresetCatalog:
    presets: dict[str, Preset]
    errors: list[PresetError]

    def get(self, name: str) -> Preset:
        from launcher.errors import UserError

        if name not in self.presets:
            known = ", ".join(sorted(self.presets)) or "none"
            broken = f"; {len(self.errors)} preset file(s) not loaded, first: {self.errors[0]}" if self.errors else ""
            raise UserError(f"unknown preset '{name}' (known: {known}{broken})")
        return self.presets[name]


def load_presets(dirs: list[Path] | None = None) -> PresetCatalog:
    """Shipped presets, then the user's (a user preset replaces a shipped one of the same name)."""
    if dirs is None:
        dirs = [paths.shipped_presets_dir(), paths.user_presets_dir()]
    presets: dict[str, Preset] = {}
    errors: list[PresetError] = []
    cache = _ParseCache()
    for directory in dirs:
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            try:
                preset = parse_preset(cache.read(path), str(path))
            except PresetError as exc:
                errors.append(exc)
                continue
            presets[preset.name] = preset
    cache.save()
    return PresetCatalog(presets, errors)
