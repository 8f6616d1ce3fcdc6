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


def queue_sentinels(run_dir: str) -> list[str]:
    return subprocess.run(["pgrep", "-f", f"launcher.sentinel.slurm_queue {run_dir}"], capture_output=True,
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
    assert queue_sentinels(job["run_dir"])
    stopped = run_cli("stop", job["id"])
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: not queue_sentinels(job["run_dir"]), 15, "the queue sentinel to end after the stop")
    assert [e["kind"] for e in events.read(job["run_dir"])].count("pending") == 1
