"""The sentinel's side of SLURM's queue, on the real one-node cluster (scripts/slurm_local.sh):
a job that cannot start raises `pending` with SLURM's reason, notified to a real receiver,
and `jobs` shows the reason; the queue sentinel ends once the job is stopped.

Without root or packages these tests are skipped with the script's reason (slurm_helpers)."""

import json
import subprocess

from conftest import run_cli
from launcher.sentinel import events
from slurm_helpers import PARTITION, cancel_leftovers, job_row, slurm_cluster  # noqa: F401
from test_notify import TOKEN, receiver  # noqa: F401
from training_helpers import make_tiny_dataset, tiny_launch_args, wait_for


def queue_sentinels(job_id: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"launcher.sentinel.slurm_queue --job {job_id} "], capture_output=True,
                          text=True).stdout.split()


def test_held_job_raises_pending_with_its_reason(slurm_cluster, cancel_leftovers, frcnn_home, receiver,  # noqa: F811
                                                 tmp_path):
    (frcnn_home / "config").mkdir(parents=True, exist_ok=True)
    # 3 s instead of 30 min; pending is notified only where notify_events asks for it.
    (frcnn_home / "config" / "config.toml").write_text(
        f'notify = ["{receiver.url(TOKEN)}"]\nnotify_events = ["pending", "failed"]\npending_alert_minutes = 0.05\n')
    args = tiny_launch_args(make_tiny_dataset(tmp_path / "data"))
    cut = args.index("--cfg-options")
    # --hold: SLURM keeps the job PENDING (JobHeldUser) until released: a job that cannot start.
    result = run_cli("launch", *args[:cut], "--slurm", "--partition", PARTITION, "--sbatch-arg=--hold", *args[cut:])
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)

    event = wait_for(lambda: next((e for e in events.read(job["run_dir"]) if e["kind"] == "pending"), None),
                     60, "a pending event")
    assert "JobHeldUser" in event["text"] and "has been pending for" in event["text"]
    assert event["details"]["reason"] == "JobHeldUser" and event["details"]["waited_s"] >= 3
    message = receiver.wait(lambda m: "JobHeldUser" in m.get("message", ""), 30, "the pending notification")
    assert len(message) == 1
    row = job_row(job["id"])
    assert row["status"] == "pending" and row["slurm_state"].startswith("PENDING (JobHeldUser)")
    assert any(e["kind"] == "pending" for e in row["events"])
    assert TOKEN not in result.stdout + json.dumps(row)

    # Told once: waiting longer does not repeat it; a stop ends the queue sentinel too.
    assert queue_sentinels(job["id"])
    # ...which no search for the job's processes by its run dir takes for one of them (it has none yet)
    assert subprocess.run(["pgrep", "-f", job["run_dir"]], capture_output=True, text=True).stdout == ""
    stopped = run_cli("stop", job["id"])
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: not queue_sentinels(job["id"]), 15, "the queue sentinel to end after the stop")
    assert [e["kind"] for e in events.read(job["run_dir"])].count("pending") == 1


def test_a_job_slurm_requeues_raises_requeued_with_the_restart_count(slurm_cluster, frcnn_home, tmp_path):  # noqa: F811
    """The queue sentinel sees SLURM's restart count grow (`scontrol requeue`, as a preemption with
    PreemptMode REQUEUE or the script's own requeue does): one `requeued` event. A plain batch job
    (no training: only SLURM's side is under test) and the sentinel started as launch --slurm starts it."""
    from launcher.sentinel import slurm_queue

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (frcnn_home / "config").mkdir(parents=True, exist_ok=True)
    (frcnn_home / "config" / "config.toml").write_text("pending_alert_minutes = 0.4\n")  # asks scontrol every 6 s
    slurm_id = subprocess.run(["sbatch", "--parsable", "--requeue", "-p", PARTITION, "-t", "5", "-o", "/dev/null",
                               "--wrap", "sleep 120"], capture_output=True, text=True, check=True).stdout.strip()
    try:
        slurm_queue.start(run_dir, "20261207-0000-rq", slurm_id)
        wait_for(lambda: "JobState=RUNNING" in subprocess.run(["scontrol", "show", "job", "-o", slurm_id],
                                                               capture_output=True, text=True).stdout,
                 180, "the batch job to run")
        subprocess.run(["scontrol", "requeue", slurm_id], check=True, capture_output=True)
        event = wait_for(lambda: next((e for e in events.read(run_dir) if e["kind"] == "requeued"), None),
                         90, "a requeued event")
        assert "was requeued by SLURM (restart 1)" in event["text"] and event["details"]["restarts"] == 1
    finally:
        subprocess.run(["scancel", slurm_id], capture_output=True)
    wait_for(lambda: not queue_sentinels("20261207-0000-rq"), 60, "the queue sentinel to end with the job")
    assert [e["kind"] for e in events.read(run_dir)].count("requeued") == 1  # told once
