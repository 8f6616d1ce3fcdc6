"""The pinned set-up (constraints.txt): what the bootstrap installs from, so a fresh clone gets the
versions the suite last passed with, not whatever was released since."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from conftest import REPO

spec = importlib.util.spec_from_file_location("constraints", REPO / "scripts" / "constraints.py")
constraints = importlib.util.module_from_spec(spec)
spec.loader.exec_module(constraints)


def direct_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["train"] + extras["dev"]]


def test_every_direct_dependency_is_pinned_within_what_pyproject_allows():
    pins = constraints.read()
    for req in direct_requirements():
        name = constraints.canonical(req.name)
        assert name in pins, f"{name} is a dependency but constraints.txt does not pin it"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} is outside {req}"


def test_this_venv_was_set_up_from_the_pins():
    """make test runs after the bootstrap: the suite checks the versions it actually runs with."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "constraints.py"), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_torch_and_its_own_packages_are_left_to_the_build_the_user_has():
    versions = {"torch": "2.13.0+cpu", "sympy": "1.14.0", "nvidia-cudnn-cu13": "9.1", "nvidia-ml-py": "13.615.71",
                "mmcv": "2.1.0", "frcnn-tui": "0.1.0", "Textual": "8.2.8", "typing_extensions": "4.16.0"}
    text = constraints.render({constraints.canonical(k): v for k, v in versions.items()})
    pinned = {line.split("==")[0] for line in text.splitlines() if "==" in line and not line.startswith("#")}
    assert pinned == {"nvidia-ml-py", "textual"}


def test_the_bootstrap_installs_from_the_pins_and_reruns_when_they_change():
    script = (REPO / "scripts" / "bootstrap.sh").read_text()
    assert 'pin_ --no-build-isolation -e "$ROOT[train,dev]"' in script
    # current(): a marker (the ready one, the light part's) counts only when newer than the pins
    assert '[ "$1" -nt "$CONSTRAINTS" ]' in script and 'current "$READY" && exit 0' in script
    makefile = (REPO / "Makefile").read_text()
    assert "$(READY): pyproject.toml constraints.txt" in makefile
    assert "scripts/constraints.py --write" in makefile  # make upgrade-pins
