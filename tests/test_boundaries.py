"""Start-up stays light: the CLI's --help and the core import no torch, mmcv, mmdet or textual."""

import subprocess
import sys

from conftest import REPO, modules_after as _modules_after

HEAVY = ("torch", "mmcv", "mmdet", "mmengine", "numpy", "cv2")


def test_help_imports_no_training_stack():
    mods = _modules_after(
        "import contextlib, io\nfrom launcher.cli import main as cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n        cli.main(['--help'])\n    except SystemExit:\n        pass")
    assert not {m for m in mods if m.split(".")[0] in HEAVY}
    assert "textual" not in mods


def test_every_launcher_module_imports_without_textual_or_the_stack():
    import pkgutil

    import launcher

    names = [m.name for m in pkgutil.walk_packages(launcher.__path__, "launcher.") if not m.name.endswith("__main__")]
    assert len(names) > 20
    mods = _modules_after("import importlib\n" + "\n".join(f"importlib.import_module('{n}')" for n in names))
    assert "textual" not in mods
    assert not {m for m in mods if m.split(".")[0] in HEAVY}


def test_help_runs_as_a_real_process():
    result = subprocess.run([sys.executable, "-m", "launcher.cli", "--help"], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0 and "plan" in result.stdout and "launch" in result.stdout


def test_no_launcher_module_imports_the_ui():
    import re

    for path in (REPO / "launcher").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (tui|textual)\b", text, re.M), path
