"""The suite is findable by feature (issue 23): a file named test_* holds tests, a helper module
has another name (tui_support, training_helpers, slurm_helpers, ...), and a fixture conftest.py
shares is not defined again in a test file."""

from __future__ import annotations

import ast

from conftest import REPO

TESTS = REPO / "tests"


def _top_level_functions(path) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_every_test_file_holds_tests_and_every_helper_has_another_name():
    empty = [p.name for p in sorted(TESTS.glob("test_*.py"))
             if not any(f.name.startswith("test_") for f in _top_level_functions(p))]
    assert not empty, f"named test_* without a test (a helper: give it another name): {empty}"


def test_no_test_file_defines_a_fixture_conftest_shares_again():
    shared = {f.name for f in _top_level_functions(TESTS / "conftest.py")}
    again = [f"{p.name}: {f.name}" for p in sorted(TESTS.glob("test_*.py"))
             for f in _top_level_functions(p) if f.name in shared]
    assert not again, f"defined again beside conftest.py's: {again}"
