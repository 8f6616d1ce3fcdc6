"""The one-node SLURM cluster the SLURM tests run against, brought up by scripts/slurm_local.sh.

Where it cannot come up (not root, no apt-get, a daemon that will not start) every test using
it is SKIPPED WITH THE SCRIPT'S ONE-LINE REASON, shown in the summary (pytest -rs is on).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import REPO, run_cli

SCRIPT = REPO / "scripts" / "slurm_local.sh"
PARTITION = "debug"


TWO_NODES_CONF = "/etc/slurm-two/slurm.conf"  # scripts/slurm_local.sh --two-nodes: nodes n1, n2
TWO_NODES_PARTITION = "two"


def bring_up(*args: str) -> None:
    """scripts/slurm_local.sh ARGS, or the test skipped with its one-line reason."""
    if os.geteuid() != 0:
        pytest.skip("SLURM tests skipped: scripts/slurm_local.sh must run as root to install and start "
                    "munged, slurmctld and slurmd")
    try:
        proc = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, QUIET="1"))
    except subprocess.TimeoutExpired:
        pytest.skip("SLURM tests skipped: scripts/slurm_local.sh did not finish in 900 s")
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"SLURM tests skipped: {reason}")


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """The partition to submit to, once the cluster is up (installed and started if needed)."""
    bring_up()
    return PARTITION


@pytest.fixture
def two_nodes(monkeypatch) -> str:
    """The partition of the second, two-node cluster (up, both nodes idle); this test's commands,
    and the jobs it submits (sbatch passes the environment on), talk to it through SLURM_CONF."""
    bring_up("--two-nodes")
    monkeypatch.setenv("SLURM_CONF", TWO_NODES_CONF)
    return TWO_NODES_PARTITION


@pytest.fixture
def cancel_leftovers(frcnn_home):
    """Whatever SLURM job this test's registry still has queued is cancelled at the end
    (a failed test must not leave the one-node cluster busy for the next one)."""
    yield
    from launcher.jobs import backends, job_status, registry, status_words

    if (frcnn_home / "state" / "jobs").is_dir():
        for record in registry.load_all(warn=lambda msg: None):
            if record.backend == registry.SLURM and job_status.status(record) in status_words.ACTIVE:
                backends.stop(record, grace=5)


def start_requeued_now(slurm_job_id: str) -> None:
    """Let a requeued job (seen pending again) start now rather than after SLURM's hold of about
    two minutes (Reason=BeginTime). Not within the second of its requeue: slurmd refuses a job
    whose new credential was made in the second its last one was revoked (credential times are
    whole seconds; slurmctld.log: "Killing non-startable batch JobId=N: Job credential revoked"),
    and the job then ends FAILED without running again. SLURM's own hold is what avoids it."""
    time.sleep(2.0)
    subprocess.run(["scontrol", "update", f"JobId={slurm_job_id}", "StartTime=now"], check=True, capture_output=True)


def squeue_ids() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, check=True).stdout
    return out.split()


def job_row(job_id: str) -> dict:
    result = run_cli("jobs", "--json")
    assert result.returncode == 0, result.stderr
    return {j["id"]: j for j in json.loads(result.stdout)["jobs"]}[job_id]


def wait_row(job_id: str, predicate, timeout: float, what: str, poll: float = 1.0) -> dict:
    """Poll `frcnn-tui jobs --json` (the user's view) until PREDICATE holds for the job's row."""
    deadline = time.time() + timeout
    row: dict = {}
    while time.time() < deadline:
        row = job_row(job_id)
        if predicate(row):
            return row
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last row: {row}")
