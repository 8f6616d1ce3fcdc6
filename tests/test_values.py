"""launcher/monitor/values.py: the one `finite` and the one `is_loss_key` every reader of logged numbers uses."""

from __future__ import annotations

import ast
from pathlib import Path

from launcher.monitor.values import finite, is_loss_key, json_value

ROOT = Path(__file__).resolve().parents[1]


def test_finite_takes_numbers_only_and_any_size_of_int():
    assert finite(0) and finite(-1.5) and finite(10 ** 400)  # math.isfinite overflows on this int
    assert not any(finite(v) for v in (float("nan"), float("inf"), -float("inf"), True, None, "1", [1]))


def test_loss_keys_are_the_total_and_its_parts():
    assert [k for k in ("loss", "loss_cls", "loss_rpn_bbox", "lossy", "acc", "lr") if is_loss_key(k)] == \
        ["loss", "loss_cls", "loss_rpn_bbox"]
    assert json_value(float("nan")) == "nan" and json_value(float("-inf")) == "-inf" and json_value(1.5) == 1.5


def test_no_other_module_has_its_own_finite_or_loss_key_rule():
    """A second copy drifts (one took 10**400 as an error): every module imports these two."""
    own = ROOT / "launcher" / "monitor" / "values.py"
    found = []
    for path in sorted([*(ROOT / "launcher").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        if path == own:
            continue
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.strip("_") in ("finite",
                                                                                                   "is_loss_key"):
                found.append(f"{path.relative_to(ROOT)}: def {node.name}")
        if 'startswith("loss_")' in text or "isinstance(value, bool) and math.isfinite" in text:
            found.append(f"{path.relative_to(ROOT)}: the rule written out")
    assert not found, found
