"""launcher/run_files.py: the names of a run dir's files and the one reader and writer of its plan.json."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from launcher import run_files
from launcher.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
# The training interpreter's own module (stdlib only, it cannot import run_files) names what it writes
# for an exact resume, and MMEngine's pointer to the last checkpoint; run_files lists them from there.
TRAINING_SIDE = {ROOT / "launcher" / "stack" / "exact_resume.py": {
    run_files.LAST_CHECKPOINT, run_files.REQUEST_FILE, run_files.CHECKPOINTED_FILE, run_files.PROGRESS_FILE,
    run_files.RESTARTS_FILE}}


def test_the_plan_written_is_the_plan_read(tmp_path):
    assert not run_files.has_plan(tmp_path) and run_files.read_plan(tmp_path) == {}
    path = run_files.write_plan(tmp_path, {"lr": 0.02, "work_dir": tmp_path, "notify": []})
    assert path == tmp_path / run_files.PLAN and run_files.has_plan(tmp_path)
    assert run_files.read_plan(tmp_path) == run_files.read_plan_checked(tmp_path) == \
        {"lr": 0.02, "work_dir": str(tmp_path), "notify": []}  # a path as text
    assert not list(tmp_path.glob(".plan.json.*"))  # the temporary file was renamed into place


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b"\xff", b"[" * 100_000 + b"]" * 100_000,
                                 b'{"lr": "0.02"}', b'{"world_size": true}', b'{"lr": 1e999}',
                                 b'{"resume_notes": "x"}'])
def test_a_broken_plan_is_empty_to_followers_and_one_line_to_a_resume(tmp_path, raw):
    (tmp_path / run_files.PLAN).write_bytes(raw)
    if raw.startswith(b'{"'):
        assert run_files.read_plan(tmp_path) == json.loads(raw)  # followers take what hints there are
    else:
        assert run_files.read_plan(tmp_path) == {}
    with pytest.raises(UserError) as err:
        run_files.read_plan_checked(tmp_path)
    assert str(tmp_path / run_files.PLAN) in str(err.value) and "\n" not in str(err.value)


def test_every_name_is_one_file_of_its_own():
    assert len(set(run_files.ALL_FILES)) == len(run_files.ALL_FILES)
    assert run_files.LOGS == (run_files.STDOUT, run_files.STDERR)


def test_no_other_module_names_a_run_dir_file():
    """A file's name as a string stands in run_files.py only (messages and docs may mention it)."""
    own = ROOT / "launcher" / "run_files.py"
    names = set(run_files.ALL_FILES) - {run_files.CONFIG}  # config.py: also any preset's config path
    found = []
    for path in sorted([*(ROOT / "launcher").rglob("*.py"), *(ROOT / "tui").rglob("*.py")]):
        if path == own:
            continue
        allowed = TRAINING_SIDE.get(path, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in names - allowed:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, found


def test_plan_json_is_named_in_run_files_only():
    hits = [p.relative_to(ROOT) for p in sorted([*(ROOT / "launcher").rglob("*.py"), *(ROOT / "tui").rglob("*.py")])
            if any(isinstance(n, ast.Constant) and n.value == "plan.json" for n in ast.walk(ast.parse(p.read_text())))]
    assert hits == [Path("launcher/run_files.py")]
