"""The sentinel beside every job: events in events.jsonl, notifications, its own faults.

The first tests run the real sentinel process (`python -m launcher.sentinel`, as launch.sh
starts it) on work dirs written in MMEngine's on-disk format (tests/data/mmlog.py) and
torchrun's failure report layout, with a real receiver behind an apprise json:// URL: the
end of a job is its exit status file or its launch script's death, as for a real job. The
training tests then launch real demo jobs (demo-cpu, 2 gloo workers, the tiny shapes set).
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_cli
from notify_receiver import Receiver, closed_port
from launcher import paths
from launcher.jobs import identity, registry
from launcher.sentinel import events, presence, stacks
from launcher.sentinel.watcher import Sentinel

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import Run, train_record, val_record  # noqa: E402
from test_identity import detached, entry, reap  # noqa: E402,F401
from tui_support import add_job, make_app, open_monitor, screen_text, sync  # noqa: E402
from tui_support import wait_for as tui_wait_for  # noqa: E402
from slurm_helpers import cancel_leftovers, slurm_cluster, wait_row  # noqa: E402,F401
from test_faults_jobs import workers  # noqa: E402
from test_slurm_cluster import slurm_launch  # noqa: E402
from training_helpers import (explain, launch, needs_stack, scalars_lines,  # noqa: E402
                              job_status, slow_loading, tiny_launch_args, wait_done, wait_for)

TOKEN = "s3ntinelT0kenQ"
STALL_GRACE = ("--stall-grace", "10")  # the stall tests wait 10 s past the log intervals, not 30
# torchrun's ChildFailedError report (torch.distributed.elastic.multiprocessing.errors), rank 1 killed.
FAILURE_REPORT = """[W] Sending process 4240 closing signal SIGTERM
==========================================================
train_entry.py FAILED
----------------------------------------------------------
Failures:
  <NO_OTHER_FAILURES>
----------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_04:00:00
  host      : box
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 4241)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 4241
==========================================================
"""


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def logged_run(run_dir: Path, *, notify: list[str]) -> Path:
    """A run dir as a 1-epoch job leaves it: plan.json (mode 0600, as launch writes it), 4
    training lines and one evaluation."""
    run_dir.mkdir(parents=True, exist_ok=True)
    registry.write_atomic(run_dir / "plan.json", json.dumps({"preset": "demo-cpu", "reference_ap": None,
                                                              "notify": notify}))
    Run(run_dir).records(*[train_record(s, loss=1.0 - 0.1 * s, time=0.2) for s in range(1, 5)],
                         val_record(1, 0.512))
    return run_dir


def start_sentinel(run_dir: Path, job_id: str, reap) -> tuple[subprocess.Popen, subprocess.Popen]:
    """(the job's stand-in launch script, its sentinel) once the sentinel runs: a sleeper, and the
    sentinel as launch.sh starts it (the job ends with its exit status file or the script's death)."""
    parent = detached(["sleep", "300"])
    reap(parent)
    log = open(run_dir / "sentinel.log", "ab")
    with log:
        sentinel = subprocess.Popen([sys.executable, "-m", "launcher.sentinel", str(run_dir), "--job", job_id,
                                     "--parent", str(parent.pid)], cwd=run_dir, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=dict(os.environ, FRCNN_TUI_NOTIFY_BACKOFF_S="0.1"))
    reap(sentinel)
    wait_for(lambda: presence.state(run_dir) == presence.RUNNING, 20, "the sentinel to start")
    return parent, sentinel


def kinds(run_dir: Path) -> list[str]:
    return [e["kind"] for e in events.read(run_dir)]


def test_a_finished_job_is_one_finished_message_with_its_best_map_and_an_unreachable_target_is_an_event(
        tmp_path, receiver, reap):  # noqa: F811
    dead = f"json://127.0.0.1:{closed_port()}/{TOKEN}"
    run_dir = logged_run(tmp_path / "run", notify=[receiver.url(f"hook/{TOKEN}"), dead])
    parent, sentinel = start_sentinel(run_dir, "job-fin", reap)
    (run_dir / registry.EXIT_FILE).write_text("0\n")  # what launch.sh writes when torchrun returns 0
    assert sentinel.wait(30) == 0
    [finished] = receiver.wait(lambda m: "finished" in m["title"], 5, "the finished message")
    assert len(receiver.messages) == 1
    assert "best bbox_mAP 0.5120 (51.2%) at epoch 1, final 0.5120" in finished["message"]
    assert finished["title"] == "frcnn-tui: job demo-cpu finished"
    evs = events.read(run_dir)
    assert [e["kind"] for e in evs] == ["finished", "notify-failed"]
    assert set(evs[0]) == {"time", "kind", "job", "text", "details"} and evs[0]["job"] == "job-fin"
    assert evs[0]["details"]["best"]["bbox_mAP"] == 0.512
    assert evs[1]["details"]["target"] == dead.rsplit("/", 1)[0] and evs[1]["details"]["tries"] == 5
    assert presence.state(run_dir) == presence.ENDED
    for name in ("sentinel.log", "events.jsonl", "sentinel.json"):
        assert TOKEN not in (run_dir / name).read_text(), name
    assert (run_dir / "plan.json").stat().st_mode & 0o777 == 0o600


def test_a_failed_job_names_the_rank_that_failed_first(tmp_path, receiver, reap):  # noqa: F811
    run_dir = logged_run(tmp_path / "run", notify=[receiver.url(TOKEN)])
    parent, sentinel = start_sentinel(run_dir, "job-fail", reap)
    (run_dir / "stderr.log").write_text(FAILURE_REPORT)
    (run_dir / registry.EXIT_FILE).write_text("1\n")
    assert sentinel.wait(30) == 0
    [message] = receiver.messages
    assert "failed: rank 1 (local rank 1) failed first: killed by SIGKILL" in message["message"]
    [failed] = events.read(run_dir)
    assert failed["kind"] == "failed" and failed["details"]["rank"] == 1 and failed["details"]["signal"] == "SIGKILL"


def test_a_killed_launch_script_is_a_failure_and_a_stop_is_not_notified(tmp_path, receiver, reap):  # noqa: F811
    killed = logged_run(tmp_path / "killed", notify=[receiver.url(TOKEN)])
    parent, sentinel = start_sentinel(killed, "job-killed", reap)
    parent.kill()  # kill -9 of launch.sh: no exit status is ever written
    assert sentinel.wait(30) == 0
    assert kinds(killed) == ["failed"] and "its launch script was killed" in events.read(killed)[0]["text"]

    stopped = logged_run(tmp_path / "stopped", notify=[receiver.url(TOKEN)])
    parent, sentinel = start_sentinel(stopped, "job-stopped", reap)
    (stopped / registry.STOP_FILE).write_text(str(time.time()))  # what `frcnn-tui stop` does, then SIGTERM
    sentinel.send_signal(signal.SIGTERM)
    assert sentinel.wait(10) == 0
    assert kinds(stopped) == ["stopped"]
    time.sleep(1)
    assert len(receiver.messages) == 1  # the failure only: a stop the user asked for is not news


def test_jobs_says_when_a_running_jobs_sentinel_is_gone_and_a_job_from_before_shows_as_ever(cli, reap):  # noqa: F811
    job_id = "20261207-040000-sent"
    leader = detached(["sleep", "300"], job_id)
    reap(leader)
    record = entry(job_id, "watched", leader.pid, psutil.Process(leader.pid).create_time())
    old = entry("20261207-040000-old1", "before", leader.pid, 0.0, exit_status=0)  # no sentinel, no events
    sentinel = detached([sys.executable, "-m", "launcher.sentinel", str(record.run_path), "--job", job_id,
                         "--parent", str(leader.pid)], job_id)
    reap(sentinel)
    wait_for(lambda: presence.state(record.run_path) == presence.RUNNING, 20, "the sentinel to start")
    rows = {r["id"]: r for r in json.loads(cli("jobs", "--json").stdout)["jobs"]}
    assert rows[job_id]["sentinel"] == "running" and not rows[job_id]["sentinel_gone"]
    assert psutil.Process(sentinel.pid).environ()["FRCNN_TUI_JOB_ID"] == job_id  # the job's: stop reaches it
    sentinel.kill()
    sentinel.wait()
    result = cli("jobs", "--json")
    rows = {r["id"]: r for r in json.loads(result.stdout)["jobs"]}
    assert rows[job_id]["status"] == "running" and rows[job_id]["sentinel"] == "gone" and rows[job_id]["sentinel_gone"]
    assert rows[old.id]["sentinel"] is None and rows[old.id]["events"] == [] and not rows[old.id]["sentinel_gone"]
    text = cli("jobs").stdout
    assert "(sentinel gone)" in text
    assert leader.poll() is None  # the job goes on without it
    assert paths.runs_dir() in record.run_path.parents


@sync
async def test_an_event_of_any_job_shows_as_a_toast_and_rings_the_bell():
    other = add_job("20261207-050000-othr", status="running", preset="demo-cpu")  # open in no Monitor
    events.append(other.run_path, "stalled", other.id, "old news from before the TUI opened")
    app = make_app(events_interval=0.1)
    async with app.run_test(size=(150, 40)) as pilot:
        bells = []
        ring = app.bell
        app.bell = lambda: (bells.append(time.monotonic()), ring())
        await pilot.pause(0.5)  # the feed has looked at least once
        events.append(other.run_path, "failed", other.id,
                      "job demo-cpu (20261207-050000-othr) failed: rank 1 (local rank 1) failed first: killed by SIGKILL")
        await tui_wait_for(pilot, lambda: app._notifications, what="the toast")
        [toast] = app._notifications
        assert toast.title == "failed: job demo-cpu" and toast.severity == "error"
        assert "rank 1 (local rank 1) failed first: killed by SIGKILL" in str(toast.message)
        assert len(bells) == 1
        await pilot.pause(0.5)
        assert len(bells) == 1  # one event, one bell: it is not read again


@sync
async def test_the_monitor_shows_the_last_event_and_a_sentinel_gone():
    record = add_job("20261207-051000-mon1", status="running", preset="demo-cpu")
    events.append(record.run_path, "stalled", record.id, "job demo-cpu stalled: no log line for 90 s")
    registry.write_atomic(record.run_path / presence.FILE, json.dumps(
        {"pid": record.pid, "create_time": 1.0, "host": os.uname().nodename, "started_at": time.time()}))
    app = make_app(events_interval=None)
    async with app.run_test(size=(170, 45)) as pilot:
        await open_monitor(pilot, record)
        await tui_wait_for(pilot, lambda: "sentinel gone" in screen_text(app), what="the sentinel's state")
        assert "last event: stalled" in screen_text(app)



@sync
async def test_the_monitors_stacks_tab_shows_where_each_rank_waits_once_a_dump_exists(tmp_path):
    """The Stacks tab (key 6) appears with the first dump and names each rank's innermost frames
    and file: a real py-spy dump of a waiting process (where ptrace is allowed) and a real
    faulthandler dump, filed the way stacks.dump files them."""
    record = add_job("20261207-051100-stk1", status="running", preset="demo-cpu")
    waiter = subprocess.Popen([sys.executable, "-c", "import time\ndef wait_here():\n    time.sleep(60)\nwait_here()"])
    try:
        time.sleep(1.0)
        exe = stacks.py_spy()
        rank0 = exe and stacks.py_spy_dump(exe, waiter.pid)
    finally:
        waiter.kill()
        waiter.wait()
    with open(tmp_path / "fh.txt", "w+") as fh:
        faulthandler.dump_traceback(fh, all_threads=True)
        fh.seek(0)
        rank1 = "# faulthandler (SIGUSR2), Python frames only (rank 1)\n" + fh.read()
    app = make_app(events_interval=None)
    async with app.run_test(size=(170, 45)) as pilot:
        await open_monitor(pilot, record)
        await pilot.press("6")  # no dump yet: no tab, a toast says when there will be one
        await tui_wait_for(pilot, lambda: any("no stack dump yet" in str(n.message) for n in app._notifications),
                           what="the no-dump toast")
        assert "6 Stacks" not in screen_text(app)
        folder = record.run_path / stacks.STACKS_DIR / "20261207-051200"
        folder.mkdir(parents=True)
        if rank0:
            (folder / "rank0.txt").write_text(f"# py-spy dump --native --pid {waiter.pid} (rank 0)\n{rank0}")
        (folder / "rank1.txt").write_text(rank1)
        events.append(record.run_path, "stalled", record.id, "job demo-cpu stalled")  # the dump's event, after it
        await tui_wait_for(pilot, lambda: "6 Stacks" in screen_text(app), what="the Stacks tab")
        await pilot.press("6")
        await tui_wait_for(pilot, lambda: "rank 1 waits in" in screen_text(app), what="the stacks")
        text = screen_text(app)
        assert f"rank 1 waits in {stacks.innermost(rank1)}" in text and str(folder / "rank1.txt") in text
        if rank0:
            assert "wait_here (<string>:3)" in stacks.innermost(rank0)
            assert f"rank 0 waits in {stacks.innermost(rank0)}" in text


# -- real demo jobs -------------------------------------------------------------------


def _printed_and_logged(job_id: str, run_dir: Path, *outputs: str) -> str:
    """Everything a user sees of the job: the commands' output and every text file of its run dir
    but plan.json (which keeps the URL, mode 0600)."""
    seen = list(outputs)
    for args in (("jobs",), ("jobs", "--json"), ("watch", job_id, "--once", "--json"), ("watch", job_id, "--once"),
                 ("logs", job_id), ("logs", job_id, "--stderr")):
        result = run_cli(*args)
        seen += [result.stdout, result.stderr]
    for path in run_dir.rglob("*"):
        if path.is_file() and path.name != "plan.json" and path.suffix in ("", ".log", ".json", ".jsonl", ".py", ".sh"):
            seen.append(path.read_text(errors="replace"))
    return "\n".join(seen)


@needs_stack
@pytest.mark.training
def test_a_demo_job_left_alone_notifies_its_best_map_and_an_unreachable_target_is_an_event(
        tiny_data, receiver, monkeypatch):
    monkeypatch.setenv("FRCNN_TUI_NOTIFY_BACKOFF_S", "0.2")
    dead = f"json://127.0.0.1:{closed_port()}/{TOKEN}"
    result = run_cli("launch", *tiny_launch_args(tiny_data, epochs=1), "--notify", receiver.url(f"hook/{TOKEN}"),
                     "--notify", dead)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    job_id, run_dir = job["id"], Path(job["run_dir"])
    assert wait_done(job_id, 400) == "succeeded", explain(run_dir)
    assert not identity.marked_processes(job_id)  # the sentinel ended with the job
    row = next(r for r in json.loads(run_cli("jobs", "--json").stdout)["jobs"] if r["id"] == job_id)
    [message] = receiver.messages  # one message: finished (the default kinds), sent once
    assert message["title"] == f"frcnn-tui: job {row['name']} finished"
    assert f"best bbox_mAP {row['best_map']:.4f} ({100 * row['best_map']:.1f}%) at epoch 1" in message["message"]
    assert [e["kind"] for e in events.read(run_dir)] == ["finished", "notify-failed"]
    assert row["events"][-1]["details"]["target"] == dead.rsplit("/", 1)[0]
    assert row["notify"] == [f"json://127.0.0.1:{receiver.port}", dead.rsplit("/", 1)[0]]
    assert row["sentinel"] == "ended"
    kept = json.loads((run_dir / presence.FILE).read_text())
    wall_s = kept["ended_at"] - kept["started_at"]
    print(f"sentinel: {kept['cpu_s']:.2f} s CPU over {wall_s:.0f} s ({100 * kept['cpu_s'] / wall_s:.2f}% of a core, "
          f"its start-up included)")
    assert kept["cpu_s"] < 0.05 * wall_s
    snap = json.loads(run_cli("watch", job_id, "--once", "--json").stdout)
    assert [e["kind"] for e in snap["events"]] == ["finished", "notify-failed"]
    plan = run_dir / "plan.json"
    assert plan.stat().st_mode & 0o777 == 0o600 and TOKEN in plan.read_text()
    seen = _printed_and_logged(job_id, run_dir, result.stdout, result.stderr)
    assert TOKEN not in seen
    assert f"notifies json://127.0.0.1:{receiver.port}" in seen


@needs_stack
@pytest.mark.training
def test_a_stopped_rank_is_stalled_with_every_ranks_stacks_then_killed_is_one_failed_message_naming_it(
        tiny_data, receiver):
    # --stall-grace 10: stalled 10 s past three log intervals of silence, not the default 30 s.
    job = launch(*tiny_launch_args(tiny_data, epochs=3), "--notify", receiver.url(TOKEN), *STALL_GRACE)
    job_id, run_dir = job["id"], Path(job["run_dir"])
    assert json.loads((run_dir / "plan.json").read_text())["stall_grace_s"] == 10
    wait_for(lambda: len(workers(job_id)) == 2 and len(scalars_lines(run_dir)) >= 3, 300, "both ranks training")
    victim = workers(job_id)[1]
    victim.send_signal(signal.SIGSTOP)  # a hung rank: rank 0 waits for it in a collective
    [stalled] = receiver.wait(lambda m: "stalled" in m["title"], 120, "the stalled message")
    assert "rank 1 stopped (SIGSTOP or a debugger)" in stalled["message"], explain(run_dir)
    files = json.loads(run_cli("watch", job_id, "--once", "--json").stdout)["stacks"]
    assert [Path(f).name for f in files] == ["rank0.txt", "rank1.txt"]
    rank0 = Path(files[0]).read_text()
    print(rank0)
    if os.geteuid() == 0:  # ptrace allowed: py-spy from outside, native frames: the collective it waits in
        assert rank0.startswith("# py-spy dump --native") and '"MainThread"' in rank0, rank0
        # DDP's reducer waiting for the gradients' allreduce (the stopped rank never joins it)
        assert "c10d::" in rank0 and "train_entry.py" in rank0, rank0
    else:
        assert "Current thread" in rank0 and "train_entry.py" in rank0  # the running rank's whole Python stack
    inner = stacks.innermost(rank0)
    assert f"rank 0 {inner}" in stalled["message"]
    assert "cannot dump" in Path(files[1]).read_text()
    victim.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    [failed] = receiver.wait(lambda m: "failed" in m["title"], 60, "the failed message")
    assert time.monotonic() - killed_at < 60
    assert "rank 1 (local rank 1) failed first: killed by SIGKILL" in failed["message"], explain(run_dir)
    assert wait_done(job_id, 60) == "failed"
    assert [m["title"].rsplit(" ", 1)[1] for m in receiver.messages] == ["stalled", "failed"]



@needs_stack
@pytest.mark.training
def test_on_stall_stop_stops_the_hung_job_after_its_stack_dump(tiny_data, receiver):
    """launch --on-stall stop: the stalled event (with every rank's stacks) comes first, then the
    job is stopped like `frcnn-tui stop` would (no process of it left), and says so."""
    # FRCNN_TUI_STACKS=faulthandler: the dump that needs no ptrace (the other stall test has py-spy's).
    result = run_cli("launch", *tiny_launch_args(tiny_data, epochs=3), "--notify", receiver.url(TOKEN),
                     "--on-stall", "stop", *STALL_GRACE, env={"FRCNN_TUI_STACKS": "faulthandler"})
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    job_id, run_dir = job["id"], Path(job["run_dir"])
    assert json.loads((run_dir / "plan.json").read_text())["on_stall"] == "stop"
    wait_for(lambda: len(workers(job_id)) == 2 and len(scalars_lines(run_dir)) >= 3, 300, "both ranks training")
    workers(job_id)[1].send_signal(signal.SIGSTOP)  # a hung rank
    [stalled] = receiver.wait(lambda m: "stalled" in m["title"], 120, "the stalled message")
    assert "stopping the job (--on-stall stop)" in stalled["message"], explain(run_dir)
    assert wait_done(job_id, 90) == "stopped", explain(run_dir)
    wait_for(lambda: not identity.marked_processes(job_id), 30, "no process of the job left")
    assert [e["kind"] for e in events.read(run_dir)] == ["stalled", "stopped"]
    files = json.loads(run_cli("watch", job_id, "--once", "--json").stdout)["stacks"]
    assert [Path(f).name for f in files] == ["rank0.txt", "rank1.txt"]  # dumped before the stop
    rank0 = Path(files[0]).read_text()
    assert rank0.startswith("# faulthandler") and "Current thread" in rank0 and "train_entry.py" in rank0

def test_a_run_waiting_for_its_data_is_called_input_bound_once(tmp_path, cli):
    run_dir = tmp_path / "slow-data"
    run_dir.mkdir()
    registry.write_atomic(run_dir / "plan.json", json.dumps({"preset": "demo-cpu"}))
    run = Run(run_dir)

    def waiting(step: int) -> dict:  # 0.3 s of each 0.5 s iteration spent waiting for the batch
        return dict(train_record(step, time=0.5), data_time=0.3)

    run.records(*[waiting(s) for s in range(1, 5)], dict(train_record(5, time=0.5), data_time=0.1),
                *[waiting(s) for s in range(6, 10)])  # 4 in a row, a fast one, 4 again: not yet
    sentinel = Sentinel(run_dir, "job-slow")
    sentinel.poll()
    assert kinds(run_dir) == []
    run.records(waiting(10))  # the 5th slow interval in a row
    sentinel.poll()
    run.records(waiting(11), waiting(12))
    sentinel.poll()
    [event] = events.read(run_dir)
    assert event["kind"] == "input-bound" and event["details"]["step"] == 10
    assert "0.300 s of each 0.500 s iteration (60%) for 5 logged intervals" in event["text"]
    assert "num_workers" in event["text"] and "persistent_workers" in event["text"]
    snap = json.loads(cli("watch", "--work-dir", str(run_dir), "--once", "--json").stdout)
    assert [a["step"] for a in snap["alerts"] if a["kind"] == "input-bound"] == [10]



def test_frcnn_tui_sentinel_off_launches_a_script_without_a_sentinel(tmp_path, monkeypatch):
    """FRCNN_TUI_SENTINEL=off (the sentinel-cost bench's B side): launch.sh starts and waits for no
    sentinel, and stays a valid script; by default it has both."""
    from launcher.jobs.local import render_launch_script
    from launcher.sentinel import start

    def script() -> str:
        text = render_launch_script("20261207-0000-sent", "demo-cpu", tmp_path, ["true"], {})
        (tmp_path / "launch.sh").write_text(text)
        assert subprocess.run(["bash", "-n", str(tmp_path / "launch.sh")]).returncode == 0
        return text

    on = script()
    assert "-m launcher.sentinel" in on and 'wait "$sentinel"' in on
    monkeypatch.setenv(start.OFF_ENV, "off")
    off = script()
    assert "-m launcher.sentinel" not in off and "$sentinel" not in off and "FRCNN_TUI_SENTINEL=off" in off

def test_the_desktop_notification_sequences_cannot_be_ended_early_by_an_events_text():
    from tui.event_toasts import desktop_notification

    seq = desktop_notification("failed: job a;b", "rank 1\x07 killed\x1b]0;pwned\x07\nby SIGKILL")
    assert seq == ("\x1b]9;failed: job a,b: rank 1 killed]0;pwnedby SIGKILL\x07"
                   "\x1b]777;notify;failed: job a,b;rank 1 killed]0;pwnedby SIGKILL\x07")


@needs_stack
@pytest.mark.training
def test_a_slurm_jobs_sentinel_runs_in_its_batch_script_and_notifies(slurm_cluster, tiny_data, receiver,  # noqa: F811
                                                                    cancel_leftovers):  # noqa: F811
    job = slurm_launch(tiny_data, "--notify", receiver.url(TOKEN), epochs=1)
    run_dir = Path(job["run_dir"])
    assert TOKEN not in (run_dir / "slurm.sh").read_text()  # the URL stays in plan.json
    [message] = receiver.wait(lambda m: "finished" in m["title"], 300, "the finished message")
    row = wait_row(job["id"], lambda r: r["status"] not in ("pending", "running"), 120, "the job to end", poll=2)
    assert row["status"] == "succeeded", explain(run_dir)
    assert f"best bbox_mAP {row['best_map']:.4f}" in message["message"]
    assert [e["kind"] for e in row["events"]] == ["finished"] and row["sentinel"] == "ended"


@needs_stack
@pytest.mark.training
def test_a_real_run_with_a_slow_dataset_is_called_input_bound_in_events_and_watch(tiny_data):
    """A user's own slow loader (tests/slow_data_plugin.py: 2 s an image, registered in mmdet's
    TRANSFORMS and imported through custom_imports, as a user adds a transform) in the main
    process: the sentinel of the real job writes one input-bound event naming data_time."""
    options, env = slow_loading("train_dataloader", seconds=2)
    result = run_cli("launch", *tiny_launch_args(tiny_data, epochs=2, nproc=1, cfg_options=options), env=env)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    job_id, run_dir = job["id"], Path(job["run_dir"])
    try:
        wait_for(lambda: "input-bound" in kinds(run_dir) or job_status(job_id) != "running", 150,
                 "the input-bound event")
    finally:
        run_cli("stop", job_id)  # the event is all this test needs of the run
    [event] = [e for e in events.read(run_dir) if e["kind"] == "input-bound"]
    assert event["job"] == job_id and "data loading (data_time) takes" in event["text"], explain(run_dir)
    assert "num_workers" in event["text"] and "persistent_workers" in event["text"]
    # The plugin's 2 s sleep, as MMEngine measured it, over more than a third of the iteration.
    assert 1.9 < event["details"]["data_time"] < event["details"]["time"] < 3 * event["details"]["data_time"]
    snap = json.loads(run_cli("watch", job_id, "--once", "--json").stdout)
    assert [e["kind"] for e in snap["events"]].count("input-bound") == 1


@sync
async def test_the_jobs_screen_marks_a_job_with_unread_events_until_its_monitor_is_opened_also_after_a_restart():
    """A job whose events.jsonl gains a line shows 'N new' after its status; opening its Monitor
    (enter on its row) and coming back clears it; what was seen is kept under the state dir, so
    a new TUI shows no mark for it, and the next event marks it again."""
    record = add_job("20261207-052000-unr1", status="running", preset="demo-cpu")
    quiet = add_job("20261207-051900-qui1", status="running", preset="demo-cpu")  # no events: never marked

    def row_line(app, job_id: str) -> str:
        return next(line for line in screen_text(app).splitlines() if job_id in line)

    async def jobs_shown(pilot, app) -> None:
        await pilot.press("j")
        await tui_wait_for(pilot, lambda: record.id in screen_text(app), what="the jobs")

    app = make_app(events_interval=None)
    async with app.run_test(size=(170, 40)) as pilot:
        await jobs_shown(pilot, app)
        assert "new" not in row_line(app, record.id)
        events.append(record.run_path, "stalled", record.id, "job demo-cpu stalled: no log line for 90 s")
        await pilot.press("ctrl+r")  # the jobs timer's refresh (off in tests)
        await tui_wait_for(pilot, lambda: "running · 1 new" in row_line(app, record.id), what="the unread mark")
        assert "new" not in row_line(app, quiet.id)
        app.screen.query_one("#jobs").move_cursor(row=app.screen.query_one("#jobs").get_row_index(record.id))
        await pilot.press("enter")
        await tui_wait_for(pilot, lambda: "last event: stalled" in screen_text(app), what="its Monitor")
        await pilot.press("escape")
        await tui_wait_for(pilot, lambda: record.id in screen_text(app) and "new" not in row_line(app, record.id),
                           what="the mark cleared")
    assert record.id in json.loads((paths.state_dir() / "tui-seen-events.json").read_text())

    app = make_app(events_interval=None)  # a restart: the event stays seen
    async with app.run_test(size=(170, 40)) as pilot:
        await jobs_shown(pilot, app)
        assert "new" not in row_line(app, record.id)
        events.append(record.run_path, "diverged", record.id, "job demo-cpu diverged: loss is nan")
        await pilot.press("ctrl+r")
        await tui_wait_for(pilot, lambda: "· 1 new" in row_line(app, record.id), what="the next event's mark")
