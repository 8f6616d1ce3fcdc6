"""References kept under the state dir: ``<state>/references/NAME.json``, written atomically."""

from __future__ import annotations

import json
import time
from pathlib import Path

from launcher import paths
from launcher.errors import UserError
from launcher.jobs.registry import NAME_RE, write_atomic
from launcher.references.model import Reference
from launcher import run_files


def references_dir() -> Path:
    path = paths.state_dir() / "references"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def validate_name(name: str) -> str:
    # Names become file names: the same rule as job names.
    if not NAME_RE.match(name):
        raise UserError(f"invalid reference name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                        f"starting with a letter or digit")
    return name


def _file(name: str) -> Path:
    return references_dir() / f"{validate_name(name)}.json"


def save(ref: Reference) -> Path:
    path = _file(ref.name)
    if ref.added_at is None:
        ref.added_at = time.time()
    write_atomic(path, json.dumps(ref.to_dict(), indent=2))
    return path


def exists(name: str) -> bool:
    return _file(name).is_file()


def load(name: str) -> Reference:
    path = _file(name)
    try:
        return Reference.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        known = ", ".join(r.name for r in load_all()) or "none"
        raise UserError(f"no reference '{name}' (known: {known}; add one with frcnn-tui reference add)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"reference '{name}' cannot be read ({path}): {exc}") from None


def load_all() -> list[Reference]:
    """Every readable reference, oldest first (an unreadable file is skipped, never deleted)."""
    refs = []
    for path in sorted(references_dir().glob("*.json")):
        try:
            refs.append(Reference.from_dict(json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue
    refs.sort(key=lambda r: r.added_at or 0)
    return refs


def remove(name: str) -> Path:
    path = _file(name)
    if not path.is_file():
        raise UserError(f"no reference '{name}'")
    path.unlink()
    return path


def for_preset(preset: str | None) -> list[Reference]:
    return [r for r in load_all() if preset and r.preset == preset]


def default_for(preset: str | None) -> Reference | None:
    """A job without --reference compares with its preset's newest reference."""
    refs = for_preset(preset)
    return refs[-1] if refs else None


def resolve(name: str | None, preset: str | None) -> Reference | None:
    return load(name) if name else default_for(preset)


def record_for_job(run_dir: Path, name: str) -> None:
    """``launch --reference NAME``: kept in the job's plan.json, where watch, the Monitor and
    report look for it (a job without one follows its preset's default)."""
    plan = run_files.read_plan(run_dir)
    if not plan:
        raise UserError(f"cannot record the reference in {run_dir / run_files.PLAN}: no plan there")
    plan["reference"] = validate_name(name)
    run_files.write_plan(run_dir, plan)
