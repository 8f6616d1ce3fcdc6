"""Bad input gets one line and a non-zero exit, and nothing already written is lost.

A seeded generator (random.Random, fixed seeds: every run tries the same cases, and a failure
names its case) builds broken presets, registry entries, plan.json files, config.toml files
and CLI numbers and names. Each case runs the real CLI entry (launcher.cli.main.main, in
process: a traceback would fail the test as an exception) and checks the exit code, that
stderr is exactly one line, and that every file under FRCNN_TUI_HOME is byte for byte
as before.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import psutil
import pytest

from launcher import paths
from launcher.cli.main import main
from launcher.jobs import identity, registry
from launcher.jobs.registry import JobRecord
from launcher.planning.presets import PresetError, load_preset_file

SHIPPED_DEMO = Path(__file__).resolve().parent.parent / "presets" / "demo-cpu.toml"
CASES = 30  # per generator


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's one-line refusal
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def assert_one_line_refusal(case: Any, code: int, err: str, before: dict[str, bytes], root: Path,
                            codes=(1, 2)) -> None:
    assert code in codes, f"{case!r}: exit {code}, stderr {err!r}"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("frcnn-tui: error: "), f"{case!r}: {err!r}"
    assert "Traceback" not in err
    after = files(root)
    assert {k: after.get(k) for k in before} == before, f"{case!r} changed earlier state"


# -- CLI numbers and names ---------------------------------------------------------

NOT_NUMBERS = ["", "abc", "1.5.2", "nan", "inf", "-inf", "1e400", "0x10", "1,5", "++1", "½", "None"]
BAD_NAMES = ["", "../x", "a/b", ".hidden", "-x", "x" * 65, "a b", "a\nb", "$(touch PWNED)", "é", "..", "a;b"]


def bad_int(rng: random.Random, low: int, high: int | None) -> str:
    choices = [str(low - rng.randint(1, 10**6))] + [rng.choice(NOT_NUMBERS)] * 2
    if high is not None:
        choices.append(str(high + rng.randint(1, 10**12)))
    return rng.choice(choices)


def cli_cases(rng: random.Random) -> list[list[str]]:
    plan = ["plan", "--preset", "r50-fpn-1x"]
    ints = [(plan, "--port", 1, 65535), (plan, "--gpus", 1, None), (plan + ["--cpu"], "--nproc", 1, None),
            (plan, "--nodes", 1, None), (plan, "--imgs-per-gpu", 1, None), (plan, "--node-rank", 0, None),
            (plan, "--seed", 0, 2**32 - 1), (["launch", "--preset", "demo-cpu"], "--port", 1, 65535),
            (["resume", "x"], "--nproc", 1, None), (["demo"], "--nproc", 1, None), (["demo"], "--epochs", 1, None),
            (["slurm", "--preset", "r50-fpn-1x", "--partition", "p"], "--gpus-per-node", 1, None),
            (["slurm", "--preset", "r50-fpn-1x", "--partition", "p"], "--cpus-per-task", 1, None)]
    floats = [(plan, "--lr", "positive"), (["stop", "x"], "--grace", "non-negative"),
              (["watch", "x"], "--interval", "positive")]
    cases = []
    for _ in range(CASES):
        base, opt, low, high = rng.choice(ints)
        cases.append([*base, f"{opt}={bad_int(rng, low, high)}"])
        base, opt, sign = rng.choice(floats)
        cases.append([*base, f"{opt}={rng.choice(['-1', '-0.5', 'nan', 'inf', 'x'] + (['0'] if sign == 'positive' else []))}"])
        cases.append(["launch", "--preset", "demo-cpu", f"--name={rng.choice(BAD_NAMES)}"])
        cases.append([*plan, f"--gpu-ids={rng.choice(['-1', 'a', '0,-2', ',', '0,,x', '1.5'])}"])
    return cases


def test_cli_numbers_and_names_are_refused_in_one_line(capsys, frcnn_home):
    before = files(frcnn_home)
    for case in cli_cases(random.Random(1301)):
        code, _, err = run(capsys, *case)
        assert_one_line_refusal(case, code, err, before, frcnn_home, codes=(2,))
        assert "(see frcnn-tui" in err


# -- presets -------------------------------------------------------------------------

def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"


def toml_text(data: dict[str, Any]) -> str:
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items())


def valid_preset(name: str) -> dict[str, Any]:
    import tomllib

    data = tomllib.loads(SHIPPED_DEMO.read_text())
    data["config"] = str(SHIPPED_DEMO.parent / data["config"])  # absolute: the user dir has no configs
    data["name"] = name
    return data


WRONG_TYPES = {str: [5, 1.5, True, [], {}], int: ["12", 1.5, True, [1], {}], float: ["0.02", True, [0.02], {}],
               list: ["8", 8, {}], dict: ["x", 1, [1]]}
OUT_OF_RANGE = {"base_lr": [0, -0.02, math.inf, math.nan], "base_batch_size": [0, -16], "imgs_per_gpu": [0, -2],
                "epochs": [0, -1], "dataset_repeat": [0], "default_cpu_workers": [0, -2], "warmup_iters": [-1],
                "min_gpu_memory_mib": [-1], "reference_ap": [101.0, -1, math.nan, math.inf],
                "milestones": [[0], [-3], [1.5], ["8"], [True]], "optimizer": ["sgdx", ""], "lr_rule": ["cubic"],
                "dataset": ["voc"], "name": ["", "two words", "tab\there"], "config": ["/nonexistent/cfg.py"]}


def broken_preset(rng: random.Random, name: str) -> tuple[str, str]:
    """(description of the break, TOML text) of a preset that must not load."""
    from launcher.planning.presets import _SCHEMA

    data = valid_preset(name)
    kind = rng.choice(["type", "missing", "range", "beyond", "unknown", "syntax"])
    if kind == "type":
        key = rng.choice(list(_SCHEMA))
        data[key] = rng.choice(WRONG_TYPES[_SCHEMA[key][0][0]])
    elif kind == "missing":
        key = rng.choice([k for k, (_, required) in _SCHEMA.items() if required and k != "name"])
        del data[key]
    elif kind == "range":
        key = rng.choice(list(OUT_OF_RANGE))
        data[key] = rng.choice(OUT_OF_RANGE[key])
    elif kind == "beyond":
        key = "milestones"
        data[key] = sorted(rng.sample(range(1, data["epochs"]), 1) + [data["epochs"] + rng.randint(1, 50)])
    elif kind == "unknown":
        key = rng.choice(["lr", "base-lr", "Epochs"])
        data[key] = 1
    else:
        key = None
        return kind, toml_text(data)[: rng.randint(5, 60)] + "= = ]\n"
    return f"{kind} {key}={data.get(key)!r}", toml_text(data)


def test_broken_user_presets_are_one_line_each(capsys, frcnn_home):
    rng = random.Random(1302)
    user = paths.user_presets_dir()
    user.mkdir(parents=True)
    for i in range(CASES):
        name = f"fuzz-{i}"
        case, text = broken_preset(rng, name)
        path = user / f"{name}.toml"
        path.write_text(text)
        with pytest.raises(PresetError):  # the generator must only make broken presets
            load_preset_file(path)
        before = files(frcnn_home)
        code, _, err = run(capsys, "plan", "--preset", name)
        assert_one_line_refusal(case, code, err, before, frcnn_home, codes=(2,))
        assert str(path) in err, (case, err)
        path.unlink()


# -- registry entries ----------------------------------------------------------------

FIELD_WRONG = {"id": [5, None, ["x"]], "name": [5, None], "preset": [1.5, []], "run_dir": [None, 3],
               "gpu_ids": ["0", [0, "1"], [1.5], None, {"0": 1}], "cpu": ["yes", None, 1, []],
               "nproc_per_node": ["2", 2.5, None, True], "nodes": ["1", None], "pid": ["12", 12.0, None, [12], True],
               "pgid": ["12", None], "create_time": ["1.0", None, True, []], "started_at": ["now", None],
               "port": ["29500", 2.9e4, None], "command": ["torchrun", [1, 2], None], "python": [5, None],
               "reference_ap": ["37.4", [], True], "max_epochs": ["12", 1.5], "resumes": ["0", None, 0.5],
               "host": [1, None, []]}


def entry(job_id: str, run_dir: Path, **fields: Any) -> dict[str, Any]:
    record = JobRecord(id=job_id, name="fuzz", preset="demo-cpu", run_dir=str(run_dir), gpu_ids=[0], cpu=False,
                       nproc_per_node=1, nodes=1, pid=999_999, pgid=999_999, create_time=1.0,
                       started_at=time.time(), port=29500, command=["torchrun"], python=sys.executable)
    return {**record.to_dict(), **fields}


def broken_entry(rng: random.Random, job_id: str, run_dir: Path) -> tuple[str, bytes]:
    data = entry(job_id, run_dir)
    kind = rng.choice(["type", "type", "missing", "shape", "json", "id"])
    if kind == "type":
        key = rng.choice(list(FIELD_WRONG))
        data[key] = rng.choice(FIELD_WRONG[key])
        return f"{key}={data[key]!r}", json.dumps(data).encode()
    if kind == "missing":
        key = rng.choice(["id", "name", "pid", "create_time", "run_dir", "command", "gpu_ids"])
        del data[key]
        return f"missing {key}", json.dumps(data).encode()
    if kind == "shape":
        value = rng.choice([[], "job", 5, None, [data]])
        return f"shape {value!r:.20}", json.dumps(value).encode()
    if kind == "json":
        nan_time = json.dumps({**data, "create_time": "NAN"}).replace('"NAN"', "NaN")  # Python's json reads NaN
        raw = rng.choice([b'{"id": ', b"", b"\xff\xfe", b"[" * 100_000, nan_time.encode()])
        return f"json {raw[:12]!r}", raw
    data["id"] = rng.choice(["../escape", "", "a b", ".x"])
    return f"id {data['id']!r}", json.dumps(data).encode()


def test_broken_registry_entries_are_quarantined_with_one_warning(capsys, frcnn_home):
    """`jobs` keeps listing the good entries; a broken one moves to jobs/corrupt/ with its bytes
    intact and one warning line. (The command itself was fine, so it exits 0.)"""
    rng = random.Random(1303)
    good_dir = paths.runs_dir() / "20261130-000000-good"
    good_dir.mkdir()
    (good_dir / registry.EXIT_FILE).write_text("0\n")
    (paths.jobs_dir() / "20261130-000000-good.json").write_text(json.dumps(entry("20261130-000000-good", good_dir)))
    corrupt = paths.jobs_dir() / "corrupt"
    for i in range(CASES):
        job_id = f"20261130-000001-b{i:03d}"
        case, raw = broken_entry(rng, job_id, good_dir)
        (paths.jobs_dir() / f"{job_id}.json").write_bytes(raw)
        before = files(frcnn_home)
        kept_before = set(corrupt.iterdir()) if corrupt.exists() else set()
        code, out, err = run(capsys, "jobs", "--json")
        assert code == 0, (case, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("frcnn-tui: warning: skipped corrupt job entry"), (case, err)
        assert [row["id"] for row in json.loads(out)["jobs"]] == ["20261130-000000-good"], case
        [moved] = set(corrupt.iterdir()) - kept_before
        assert moved.read_bytes() == raw, case  # nothing lost: kept aside as it was
        after = files(frcnn_home)
        assert {k: after.get(k) for k in before if not k.endswith(f"{job_id}.json")} == \
               {k: v for k, v in before.items() if not k.endswith(f"{job_id}.json")}, case


def test_odd_but_well_typed_entries_list_quietly(capsys, frcnn_home):
    run_dir = paths.runs_dir() / "odd"
    run_dir.mkdir()
    for i, fields in enumerate([{"pid": -1, "pgid": -1}, {"pid": 0}, {"pid": 2**63, "pgid": 2**63},
                                {"create_time": 1e300}, {"port": 0, "nodes": 0}, {"gpu_ids": []}]):
        job_id = f"20261130-000002-o{i:03d}"
        (paths.jobs_dir() / f"{job_id}.json").write_text(json.dumps(entry(job_id, run_dir, **fields)))
    code, out, err = run(capsys, "jobs", "--json")
    assert code == 0 and err == "" and {r["status"] for r in json.loads(out)["jobs"]} == {"failed"}
    code, out, err = run(capsys, "stop", "20261130-000002-o002")
    assert code == 0 and "not running" in out and err == ""


# -- plan.json -----------------------------------------------------------------------

def broken_plan(rng: random.Random) -> tuple[str, bytes]:
    good = {"preset": "demo-cpu", "lr": 0.002, "total_batch": 4, "world_size": 2, "base_lr": 0.002}
    kind = rng.choice(["shape", "field", "field", "json"])
    if kind == "shape":
        value = rng.choice([[], [good], "plan", 0.002, None, True])
        return f"shape {value!r:.30}", json.dumps(value).encode()
    if kind == "field":
        key = rng.choice(["lr", "total_batch", "world_size", "base_lr", "resume_notes"])
        value = rng.choice(["x", {}, True, 3] if key == "resume_notes" else ["0.01", True, [0.01], {"v": 1}, "NaN"])
        text = json.dumps({**good, key: value})
        if value == "NaN":
            text = text.replace('"NaN"', "NaN")  # Python's json reads NaN; it is no lr
        return f"{key}={value!r}", text.encode()
    text = rng.choice(["", "{", '{"lr": 0.01,', "\xff", "[" * 100_000 + "]" * 100_000])
    return f"json {text[:8]!r}", text.encode("latin-1")


def test_broken_plan_json_in_resume_is_one_line(capsys, frcnn_home):
    from launcher.run_files import read_plan_checked
    from launcher.errors import UserError

    rng = random.Random(1304)
    run_dir = paths.runs_dir() / "20261130-000003-plan"
    run_dir.mkdir()
    (run_dir / "last_checkpoint").write_text(str(run_dir / "epoch_1.pth"))
    (run_dir / registry.EXIT_FILE).write_text("143\n")
    (paths.jobs_dir() / "20261130-000003-plan.json").write_text(
        json.dumps(entry("20261130-000003-plan", run_dir, name="planfuzz", cpu=True, gpu_ids=[])))
    for _ in range(CASES):
        case, raw = broken_plan(rng)
        (run_dir / "plan.json").write_bytes(raw)
        with pytest.raises(UserError):  # the generator must never make a plan resume would run
            read_plan_checked(run_dir)
        before = files(frcnn_home)
        code, _, err = run(capsys, "resume", "planfuzz")
        assert_one_line_refusal(case, code, err, before, frcnn_home, codes=(2,))
        assert "plan.json" in err, (case, err)


# -- config.toml ---------------------------------------------------------------------

CONFIG_TOML: list[tuple[str, bytes]] = [
    ("int", b"python = 5\n"), ("float", b"python = 1.5\n"), ("bool", b"python = true\n"),
    ("list", b'python = ["/usr/bin/python3"]\n'), ("table", b"[python]\npath = 1\n"),
    ("inline table", b"python = { path = 1 }\n"), ("empty", b'python = ""\n'), ("date", b"python = 1979-05-27\n"),
    ("nul", b'python = "a\\u0000b"\n'), ("syntax", b"python = \n"), ("syntax2", b'python = "unterminated\n'),
    ("bytes", b"python = '\xff\xfe'\n"), ("missing file", b'python = "/nonexistent/python3"\n'),
]


@pytest.mark.parametrize("case,raw", CONFIG_TOML, ids=[c for c, _ in CONFIG_TOML])
def test_a_broken_config_toml_is_one_line(capsys, frcnn_home, case, raw):
    paths.config_dir().mkdir(parents=True)
    (paths.config_dir() / "config.toml").write_bytes(raw)
    before = files(frcnn_home)
    code, _, err = run(capsys, "plan", "--preset", "demo-cpu")
    assert_one_line_refusal(case, code, err, before, frcnn_home, codes=(2,))


# -- the TUI: the Jobs and Compare screens with broken files -----------------------

def test_the_jobs_screen_loads_past_a_wrong_typed_entry_and_compare_shows_a_bad_plan(fake_gpus):
    import asyncio

    from tui_support import add_job, make_app, screen_text, wait_for
    from tui.screens.compare import CompareScreen

    fake_gpus("eight")
    good = add_job("20261128-231000-aaaa", status="succeeded", epochs=2)
    (good.run_path / "plan.json").write_text(json.dumps({"lr": "0.01", "total_batch": [16]}))
    bad = json.loads((paths.jobs_dir() / f"{good.id}.json").read_text())
    (paths.jobs_dir() / "20261129-000000-bad1.json").write_text(json.dumps({**bad, "id": "20261129-000000-bad1",
                                                                             "pid": "12"}))

    async def drive() -> None:
        app = make_app()
        async with app.run_test(size=(140, 32)) as pilot:
            await pilot.press("j")
            await wait_for(pilot, lambda: "1 job(s)" in screen_text(app), what="the jobs list")
            assert "Loading jobs" not in screen_text(app)
            assert any("skipped corrupt job entry 20261129-000000-bad1.json" in str(n.message)
                       for n in app._notifications)
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and
                           "Reading the runs" not in screen_text(app), what="the comparison")
            text = screen_text(app)
            assert good.id in text and "field 'lr' must be a number" in text

    asyncio.run(drive())
    assert list((paths.jobs_dir() / "corrupt").iterdir())[0].name.startswith("20261129-000000-bad1.json")


# -- launch refusals leave nothing behind -------------------------------------------

def test_a_work_dir_holding_another_jobs_files_is_refused(capsys, frcnn_home, tmp_path):
    finished = paths.runs_dir() / "20261130-000004-done"
    finished.mkdir()
    for name, text in (("config.py", "cfg"), ("plan.json", "{}"), ("launch.sh", "x"), (registry.EXIT_FILE, "0\n")):
        (finished / name).write_text(text)
    (paths.jobs_dir() / "20261130-000004-done.json").write_text(json.dumps(entry("20261130-000004-done", finished)))
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "plan.json").write_text('{"lr": 0.02}')
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    live_id = "20261130-000004-live"
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True, env={**os.environ,
                                                                             **identity.marker_env(live_id)})
    try:
        live = paths.runs_dir() / live_id
        live.mkdir()
        (paths.jobs_dir() / f"{live_id}.json").write_text(json.dumps(entry(
            live_id, live, pid=sleeper.pid, pgid=sleeper.pid, create_time=psutil.Process(sleeper.pid).create_time())))
        for work_dir, extra, expected in ((finished, [], "holds job 20261130-000004-done's run dir"),
                                          (loose, [], "another job's files (plan.json)"),
                                          (live, ["--force"], f"run dir of running job {live_id}"),
                                          (a_file, [], "is not a folder")):
            before = files(tmp_path)
            code, _, err = run(capsys, "launch", "--preset", "demo-cpu", "--cpu", "--work-dir", str(work_dir), *extra)
            assert_one_line_refusal(work_dir, code, err, before, tmp_path, codes=(2,))
            assert expected in err, err
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_refused_launch_leaves_no_run_dir(cli, frcnn_home, tmp_path):
    """The checklist refuses r50-fpn-1x here (no COCO): neither the default run dir nor the files
    written into an existing --work-dir remain; that folder is made private (0700) all the same."""
    refused = cli("launch", "--preset", "r50-fpn-1x", "--cpu")
    assert refused.returncode == 1 and "launch refused, checklist fails" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert not paths.runs_dir().exists() or list(paths.runs_dir().iterdir()) == []
    assert registry.load_all() == []
    existing = tmp_path / "mine"
    existing.mkdir(mode=0o755)
    (existing / "notes.txt").write_text("the user's own file")
    refused = cli("launch", "--preset", "r50-fpn-1x", "--cpu", "--work-dir", str(existing))
    assert refused.returncode == 1 and "launch refused" in refused.stderr
    assert [p.name for p in existing.iterdir()] == ["notes.txt"]
    assert existing.stat().st_mode & 0o777 == 0o700


# -- path arguments: report -o, reference add SOURCE, watch --work-dir, a path for a JOB ----------

def bad_paths(tmp: Path) -> dict[str, list[str]]:
    """Per use, places a path argument cannot be: for output, an existing file, a folder below a
    file, the kernel's /proc, a name too long for the file system; for reading, also an empty, a
    binary or a non-log file and a folder without logs; a job given as a path."""
    a_file = tmp / "a-file"
    a_file.write_text("not a log\n")
    empty, binary, no_logs = tmp / "empty.log", tmp / "binary.log.json", tmp / "no-logs"
    empty.write_bytes(b"")
    binary.write_bytes(bytes(range(256)) * 4)
    no_logs.mkdir(exist_ok=True)
    too_long = ["x" * 300, str(tmp / "missing" / ("x" * 300))]
    unwritable = [str(a_file), str(a_file / "sub"), "/proc", "/proc/frcnn-tui-report", "/proc/self/status",
                  f"/proc/{os.getpid()}/report", "/proc/version/x", *too_long]
    return {"output": unwritable, "source": [str(empty), str(binary), str(a_file), str(no_logs), "/proc/self/status",
                                            str(a_file / "sub"), *too_long],
            "work_dir": [str(a_file), str(a_file / "sub"), str(tmp / "missing"), *too_long],
            "job": [str(a_file), "../x", "/etc/passwd", str(no_logs), *too_long]}


def test_path_arguments_are_refused_in_one_line(capsys, frcnn_home, tmp_path):
    """report -o, reference add SOURCE, watch --work-dir and a path where logs/compare/report want
    a JOB: each bad place is one line and exit 2, never a traceback, and nothing is written."""
    job = "20261130-000005-done"
    done = paths.runs_dir() / job
    done.mkdir()
    (done / registry.EXIT_FILE).write_text("0\n")
    (paths.jobs_dir() / f"{job}.json").write_text(json.dumps(entry(job, done)))
    places = bad_paths(tmp_path)
    commands = [("output", lambda p: ["report", job, "-o", p]), ("output", lambda p: ["report", job, f"--output={p}",
                                                                                       "--json"]),
                ("source", lambda p: ["reference", "add", "fuzzref", p]),
                ("work_dir", lambda p: ["watch", "--work-dir", p, "--once"]),
                ("job", lambda p: ["logs", p]), ("job", lambda p: ["compare", job, p]), ("job", lambda p: ["report", p])]
    rng = random.Random(1305)
    for _ in range(CASES):
        use, command = rng.choice(commands)
        case = command(rng.choice(places[use]))
        before = files(frcnn_home)
        code, _, err = run(capsys, *case)
        assert_one_line_refusal(case, code, err, before, frcnn_home, codes=(2,))
    for use, command in commands:  # and every place once, whatever the draw
        for place in places[use]:
            code, _, err = run(capsys, *command(place))
            assert_one_line_refusal(command(place), code, err, before, frcnn_home, codes=(2,))
    assert not (done / "report").exists() and not (tmp_path / "x").exists()
