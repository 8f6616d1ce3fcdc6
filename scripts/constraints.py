"""The versions the suite last passed with: constraints.txt, which scripts/bootstrap.sh installs from.

    python scripts/constraints.py --check        # does this venv match constraints.txt? (exit 1 if not)
    python scripts/constraints.py --write        # rewrite constraints.txt from this venv

Moving the pins forward (README, "Updating the pinned versions"): `make upgrade-pins` installs the
newest releases allowed by pyproject.toml into .venv without constraints, rewrites this file from what
got installed, and then `make test` says whether the suite still passes with them; commit both together.

Left out on purpose: torch and the packages only torch brings (the set-up keeps a CUDA torch a user
installed, and its own dependencies must stay whatever that build asked for), the CUDA wheels, mmcv
(compiled here from its sdist at a fixed version) and frcnn-tui itself.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSTRAINTS = ROOT / "constraints.txt"
HEADER = ("# Written by scripts/constraints.py --write from a venv whose `make test` passed; bootstrap.sh installs\n"
          "# with `-c constraints.txt`. Move forward with `make upgrade-pins` then `make test` (README).\n")
NOT_PINNED = {"torch", "mmcv", "frcnn-tui", "triton", "filelock", "fsspec", "jinja2", "markupsafe", "networkx",
              "sympy", "mpmath", "typing-extensions", "setuptools", "wheel", "pip"}
NOT_PINNED_PREFIXES = ("nvidia-", "cuda-")
# nvidia-ml-py is NVML's Python binding, a dependency of ours, not one of torch's CUDA wheels.
PINNED_ANYWAY = {"nvidia-ml-py"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(name: str) -> bool:
    name = canonical(name)
    if name in PINNED_ANYWAY:
        return True
    return name not in NOT_PINNED and not name.startswith(NOT_PINNED_PREFIXES)


def installed(python: str = sys.executable) -> dict[str, str]:
    """name -> version of every distribution in the interpreter's environment (editable ones too)."""
    code = ("import json, importlib.metadata as m; "
            "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    import json

    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout
    return {canonical(k): v for k, v in json.loads(out).items()}


def render(versions: dict[str, str]) -> str:
    lines = [f"{name}=={version}" for name, version in sorted(versions.items()) if pinned(name)]
    return HEADER + "\n".join(lines) + "\n"


def read(path: Path = CONSTRAINTS) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonical(name)] = version
    return pins


def mismatches(pins: dict[str, str], versions: dict[str, str]) -> list[str]:
    return [f"{name}: pinned {want}, installed {versions.get(name, 'nothing')}"
            for name, want in sorted(pins.items()) if versions.get(name) != want]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--write", action="store_true")
    parser.add_argument("--python", default=sys.executable, help="the venv's interpreter (default: this one)")
    args = parser.parse_args(argv)
    versions = installed(args.python)
    if args.write:
        CONSTRAINTS.write_text(render(versions))
        print(f"wrote {CONSTRAINTS} ({len(read())} pins)")
        return 0
    bad = mismatches(read(), versions)
    for line in bad:
        print(line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
