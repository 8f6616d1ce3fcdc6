"""Values written into launch.sh and the SLURM script stay data: a newline or `$(touch ...)` in any
field runs nothing. Each generated script is parsed (`bash -n`) and really run, with harmless
stand-ins for the interpreter and for srun that record the arguments they were given."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from launcher.errors import UserError
from launcher.jobs import local as jobs
from launcher import run_files
from launcher.jobs import shell
from launcher.planning.plan import build_command

# Every way a value could break out of its place in a shell script.
PAYLOAD = "x\n$(touch PWNED)`touch PWNED`;touch PWNED;'\"\\ #"


def standin(path: Path) -> Path:
    """An executable that records its argv and the job marker, then exits 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                    "json.dump({'argv': sys.argv[1:], 'marker': os.environ.get('FRCNN_TUI_JOB_ID'),\n"
                    "           'cuda': os.environ.get('CUDA_VISIBLE_DEVICES')}, open(os.environ['SEEN'], 'w'))\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_script(script: Path, cwd: Path, seen: Path, path_dirs: list[Path] = ()) -> subprocess.CompletedProcess:
    parse = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert parse.returncode == 0, parse.stderr
    env = {**os.environ, "SEEN": str(seen), "PATH": os.pathsep.join([*map(str, path_dirs), os.environ["PATH"]])}
    return subprocess.run(["bash", str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def nothing_ran(root: Path) -> bool:
    return not [p for p in root.rglob("*") if p.name.startswith("PWNED")]


@pytest.mark.parametrize("field", ["job_id", "preset", "run_dir", "python", "env"])
def test_launch_script_keeps_every_field_data(tmp_path, field):
    values = {"job_id": "20261130-100000-safe", "preset": "demo-cpu", "run_dir": tmp_path / "run",
              "python": tmp_path / "bin" / "python", "cuda": "0,1"}
    key = "cuda" if field == "env" else field
    values[key] = (str(values[key]) + PAYLOAD) if isinstance(values[key], str) else Path(str(values[key]) + PAYLOAD)
    run_dir, python = values["run_dir"], standin(values["python"])
    run_dir.mkdir(parents=True)
    command, env = build_command(str(python), cpu=False, gpu_ids=[0], nproc=1, nodes=1, node_rank=0,
                                 master_addr=None, port=29500, config_file=run_dir / "config.py", run_dir=run_dir)
    env["CUDA_VISIBLE_DEVICES"] = values["cuda"]
    script = run_dir / jobs.LAUNCH_SCRIPT
    script.write_text(jobs.render_launch_script(values["job_id"], values["preset"], run_dir, command, env))
    seen = tmp_path / "seen.json"
    result = run_script(script, tmp_path, seen)
    assert result.returncode == 0, result.stderr
    recorded = json.loads(seen.read_text())
    assert recorded == {"argv": command[1:], "marker": values["job_id"], "cuda": values["cuda"]}
    assert run_files.read_exit_status(run_dir) == 0
    assert nothing_ran(tmp_path)


def sbatch_argument(line: str) -> str:
    """The value of one `#SBATCH --opt=VALUE` line as sbatch reads it (src/sbatch/opt.c,
    _get_argument: quotes group, backslash escapes, an unquoted '#' or blank ends it)."""
    text = line.split(" ", 1)[1]
    out, quote, escape = [], None, False
    for ch in text:
        if escape:
            out.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif quote:
            if ch == quote:
                quote = None
            else:
                out.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == "#" or ch.isspace():
            break
        else:
            out.append(ch)
    return "".join(out).partition("=")[2]  # a flag (--requeue) has no value


def render_slurm(tmp_path: Path, **overrides):
    from launcher.jobs.slurm.script import SlurmSpec, render

    values = {"name": "demo-cpu", "run_dir": tmp_path / "run", "python": tmp_path / "bin" / "python",
              "partition": "debug", "time": "1:00:00", "job_id": "20261130-100000-slrm", "formula": "0.02 × 1",
              "account": "lab", "qos": "normal", "sbatch_arg": "--comment=ok"}
    values.update(overrides)
    values["run_dir"].mkdir(parents=True, exist_ok=True)
    plan = SimpleNamespace(
        run_dir=values["run_dir"], python=str(standin(values["python"])), config_file=values["run_dir"] / "config.py",
        env={"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "PYTHONUNBUFFERED": "1", "CUDA_VISIBLE_DEVICES": "0"},
        preset=SimpleNamespace(name=values["name"]), job_id=values["job_id"], request=SimpleNamespace(amp=False),
        proposal=SimpleNamespace(lr=0.02, formula=values["formula"], imgs_per_gpu=2))
    text = render(plan, SlurmSpec(partition=values["partition"], tasks_per_node=1, cpus_per_task=2,
                                  time=values["time"], account=values["account"], qos=values["qos"],
                                  sbatch_args=[values["sbatch_arg"]]))
    return text, values, plan


@pytest.mark.parametrize("field", ["name", "run_dir", "python", "partition", "time", "account", "qos",
                                   "sbatch_arg", "job_id", "formula"])
def test_slurm_script_keeps_every_field_data(tmp_path, field):
    one_line = PAYLOAD.replace("\n", "")  # a newline cannot be written into a directive at all (below)
    base = {"run_dir": tmp_path / "run", "python": tmp_path / "bin" / "python"}
    value = one_line
    if field in base:  # the run dir also names the --output directive: one line there
        value = Path(str(base[field]) + (PAYLOAD if field == "python" else one_line))
    if field in ("job_id", "formula"):
        value = PAYLOAD  # comment text: a newline in it must not end the comment
    if field == "sbatch_arg":
        value = f"--comment={one_line}"
    text, values, plan = render_slurm(tmp_path, **{field: value})
    script = values["run_dir"] / "slurm.sh"
    script.write_text(text)
    directives = {line.split("=", 1)[0].split("--", 1)[1]: sbatch_argument(line)
                  for line in text.splitlines() if line.startswith("#SBATCH")}
    assert directives["partition"] == str(values["partition"]) and directives["time"] == values["time"]
    assert (directives["account"], directives["qos"]) == (values["account"], values["qos"])
    assert "--comment=" + directives["comment"] == values["sbatch_arg"]
    assert directives["job-name"] == f"frcnn-{values['name']}"
    assert directives["output"] == f"{values['run_dir']}/stdout.log"
    srun = tmp_path / "fakebin" / "srun"  # stands in for srun: drop its own options, run the rest
    srun.parent.mkdir()
    srun.write_text('#!/usr/bin/env bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n')
    srun.chmod(0o755)
    seen = tmp_path / "seen.json"
    result = run_script(script, tmp_path, seen, [srun.parent])
    assert result.returncode == 0, result.stderr
    assert json.loads(seen.read_text())["argv"] == ["-u", str(Path(__file__).resolve().parent.parent / "launcher"
                                                             / "stack" / "train_entry.py"),
                                                    str(plan.config_file), "--launcher", "slurm",
                                                    "--work-dir", str(values["run_dir"])]
    assert nothing_ran(tmp_path)


@pytest.mark.parametrize("field", ["partition", "time", "name", "run_dir", "account", "qos"])
def test_a_newline_in_a_slurm_directive_is_refused_in_one_line(tmp_path, field):
    value = tmp_path / ("run" + PAYLOAD) if field == "run_dir" else "debug" + PAYLOAD
    with pytest.raises(UserError) as err:
        render_slurm(tmp_path, **{field: value})
    assert "\n" not in str(err.value).strip() and "one line" in str(err.value)


def test_shell_helpers_refuse_what_cannot_be_data():
    with pytest.raises(UserError):
        shell.export("BAD NAME", "1")
    assert shell.comment("a\nrm -rf /") == "# a?rm -rf /"
