"""The one job interface (launcher.jobs.backends): both places a job runs behind `Backend`, chosen
by backend_for; the launch part they share written once (launcher.jobs.launching); and no module
outside launcher/jobs/ branching on the backend (a source scan)."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO, run_cli
from launcher.errors import CheckFailed, UserError
from launcher.jobs import backends, job_status, launching, registry, status_words
from launcher.jobs.local import LocalBackend
from launcher.jobs.slurm.jobs import SlurmBackend
from launcher.jobs.slurm.script import SlurmSpec
from launcher.planning.checklist import FAIL, PASS, WAITING, Check
from slurm_helpers import slurm_cluster  # noqa: F401  (the fixture)
from tui_support import add_job


def slurm_record(job_id: str, **fields) -> registry.JobRecord:
    """A registry entry of a SLURM job that has left the queue (a SLURM id nobody has)."""
    record = dataclasses.replace(add_job(job_id, status="stopped", gpu_ids=(), cpu=True), backend=registry.SLURM,
                                 slurm_job_id="999999", **fields)
    registry.save(record)
    return record


# -- one interface, chosen by backend_for ------------------------------------------------------

def test_backend_for_picks_the_backend_of_a_record_and_of_a_launch_target(frcnn_home):
    local, slurm = add_job("20261201-000000-aaaa", status="stopped"), slurm_record("20261201-000000-bbbb")
    assert isinstance(backends.backend_for(local), LocalBackend)
    assert isinstance(backends.backend_for(slurm), SlurmBackend)
    # A launch target: None runs on this host, a SlurmSpec on SLURM.
    assert isinstance(backends.backend_for(None), LocalBackend)
    assert isinstance(backends.backend_for(SlurmSpec(partition="debug")), SlurmBackend)
    assert backends.backend_for(local) is backends.backend_for(None)  # one instance per backend
    for backend in (backends.backend_for(local), backends.backend_for(slurm)):
        assert isinstance(backend, backends.Backend) and backend.name in backends.BACKENDS
    with pytest.raises(UserError, match="unknown job backend 'nowhere'"):
        backends.backend_for(dataclasses.replace(local, backend="nowhere"))
    # The status goes through the record's backend too.
    assert job_status.status(local) == status_words.STOPPED


def test_each_backend_says_where_a_job_runs_and_what_a_stop_does(frcnn_home):
    local = add_job("20261201-000000-aaaa", status="stopped", gpu_ids=(0, 1))
    slurm = slurm_record("20261201-000000-bbbb", nodes=2, nproc_per_node=4)
    lb, sb = backends.backend_for(local), backends.backend_for(slurm)
    assert lb.where(local) == f"pid {local.pid}" and lb.devices(local) == "gpu 0,1"
    assert lb.placement(local) == "GPU 0,1"
    assert lb.stopped_words(local, 3) == "3 process(es) signalled" and lb.stop_checkpoint_choice
    assert "SIGTERM to every process of job 20261201-000000-aaaa" in lb.stop_means(local, 30)
    assert sb.where(slurm) == "SLURM job 999999" and sb.devices(slurm) == "slurm 2×cpu×4"
    # With the row's details (a resume's new SLURM id first), its state too.
    row = {"slurm_job_id": "1000", "slurm_state": "PENDING (Resources)"}
    assert sb.where(slurm, row) == "SLURM job 1000 · PENDING (Resources)"
    assert sb.placement(slurm, row) == "slurm 2×cpu×4 · SLURM job 1000 PENDING (Resources)"
    assert sb.stopped_words(slurm, 1) == "SLURM job 999999 cancelled" and not sb.stop_checkpoint_choice
    assert sb.stop_means(slurm, 30).startswith("scancel of SLURM job 999999 (job 20261201-000000-bbbb")
    assert sb.details_follow_status and not lb.details_follow_status
    assert sb.late_events_s > 0 == lb.late_events_s


def test_a_local_job_that_checkpointed_on_a_request_of_its_own_reads_stopped_not_failed(frcnn_home):
    """Exit CHECKPOINT_EXIT (75) is a checkpoint on request, resumable, whoever asked: `stop
    --checkpoint` (which also leaves the stop file) or a request without it (REQUEST_SIGNAL sent
    to a rank by hand, the request file written by a script). Only a stop file made 75 read
    'stopped' before; without it, the job read 'failed'."""
    from launcher.jobs import checkpoint_stop

    record = add_job("20261201-000000-cccc", status="failed", gpu_ids=(), cpu=True)
    assert job_status.status(record) == status_words.FAILED  # exit 1
    (record.run_path / registry.EXIT_FILE).write_text(f"{checkpoint_stop.CHECKPOINT_EXIT}\n")
    saved = {"iter": 5, "epoch": 1, "batches_done": 5, "checkpoint": "x.pth", "reason": "signal"}
    (record.run_path / checkpoint_stop.CHECKPOINTED_FILE).write_text(json.dumps(saved))
    assert job_status.status(record) == status_words.STOPPED
    row = next(r for r in json.loads(run_cli("jobs", "--json").stdout)["jobs"] if r["id"] == record.id)
    assert row["status"] == "stopped"


# -- the launch part both share ----------------------------------------------------------------

def test_the_checklist_refuses_a_launch_in_one_set_of_words(tmp_path):
    config = tmp_path / "config.py"
    config.write_text("")

    def plan(*checks: Check) -> SimpleNamespace:
        return SimpleNamespace(checks=list(checks), config_file=config)

    failing = plan(Check("data", FAIL, "no COCO at /x"), Check("lr", PASS, "ok"))
    with pytest.raises(CheckFailed, match=r"^launch refused, checklist fails: data: no COCO at /x \(fix it, or --force\)$"):
        launching.refuse(failing, force=False)
    launching.refuse(failing, force=True)
    waiting = plan(Check("stack", WAITING, "waiting for the training stack", "see bootstrap.log"))
    with pytest.raises(CheckFailed, match="^launch refused: waiting for the training stack; see bootstrap.log$"):
        launching.refuse(waiting, force=True)  # not even forced: there is nothing to run yet
    config.unlink()
    with pytest.raises(CheckFailed, match="the resolved config was not written"):
        launching.refuse(plan(), force=True)


def test_the_record_promises_the_resolved_configs_epochs_one_rule():
    preset = SimpleNamespace(epochs=12)
    assert launching.max_epochs(SimpleNamespace(resolved={"max_epochs": 3}, preset=preset)) == 3
    # Iteration-based: the resolved config has no epochs, whatever the preset says (SLURM said 12).
    assert launching.max_epochs(SimpleNamespace(resolved={"max_iters": 900}, preset=preset)) is None
    assert launching.max_epochs(SimpleNamespace(resolved={}, preset=preset)) == 12  # not resolved


def test_both_backends_refuse_another_jobs_work_dir_alike(frcnn_home, tmp_path, slurm_cluster):  # noqa: F811
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "config.py").write_text("")
    local = run_cli("launch", "--preset", "demo-cpu", "--cpu", "--nproc", "1", "--work-dir", str(taken))
    slurm = run_cli("launch", "--slurm", "--partition", slurm_cluster, "--preset", "demo-cpu", "--cpu",
                    "--nproc", "1", "--work-dir", str(taken))
    said = f"--work-dir {taken} holds another job's files (config.py); pick another folder, or --force to reuse it"
    for result in (local, slurm):
        assert result.returncode == 2 and said in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_both_backends_refuse_a_failing_checklist_in_the_same_words(frcnn_home, tmp_path, slurm_cluster):  # noqa: F811
    # r50-fpn-1x wants COCO, which this machine has not: the checklist's data item fails.
    local = run_cli("launch", "--preset", "r50-fpn-1x", "--cpu", "--nproc", "1", "--work-dir", str(tmp_path / "l"))
    slurm = run_cli("launch", "--slurm", "--partition", slurm_cluster, "--preset", "r50-fpn-1x", "--cpu",
                    "--nproc", "1", "--work-dir", str(tmp_path / "s"))
    for result in (local, slurm):
        assert result.returncode == 1 and "launch refused, checklist fails: " in result.stderr, result.stderr
        assert "(fix it, or --force)" in result.stderr
    assert not (tmp_path / "l").exists() and not (tmp_path / "s").exists()  # a refused launch leaves nothing


def test_both_backends_say_a_missing_checkpoint_alike(frcnn_home):
    local = add_job("20261201-000000-aaaa", status="stopped")
    slurm = slurm_record("20261201-000000-bbbb")
    for record in (local, slurm):
        result = run_cli("resume", record.id)
        missing = record.run_path / "last_checkpoint"
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == (f"frcnn-tui: error: job {record.id} has no checkpoint to resume from "
                                         f"({missing} is missing)")


def test_slurm_plans_a_copy_of_the_request(frcnn_home):
    from launcher.planning.request import PlanRequest

    req = PlanRequest(preset="demo-cpu", gpus=2, port=1234)
    before = dataclasses.replace(req)
    spec = SlurmSpec(partition="debug", nodes=2, tasks_per_node=3, cpu=True)
    plan = backends.backend_for(spec).plan(req, spec, dump=False)
    assert req == before  # the caller's request: its GPUs, nodes and port as they were
    assert (plan.request.cpu, plan.request.nproc, plan.request.nodes, plan.request.gpus) == (True, 3, 2, None)
    assert "port" not in {c.id for c in plan.checks}  # each SLURM job picks its own port


# -- a third backend: the CLI needs no change ----------------------------------------------------

class ElsewhereBackend(backends.Backend):
    """A stand-in third backend, as a new package would add: registered by one line in BACKENDS."""

    name = "elsewhere"
    calls: list[str] = []

    def plan(self, req, target, *, inventory=None, catalog=None, dump=False):
        raise NotImplementedError

    def launch(self, req, target, *, force=False):
        raise NotImplementedError

    def launched(self, record):
        return [f"sent job {record.id} elsewhere"]

    def status(self, record):
        return status_words.STOPPED if "stop" in self.calls else status_words.RUNNING

    def details(self, record):
        return {"elsewhere_queue": "q1"}

    def devices(self, record):
        return "elsewhere×1"

    def placement(self, record, details=None):
        return "one device elsewhere"

    def where(self, record, details=None):
        return "queue q1"

    def nothing_to_stop(self, record):
        return None

    def stop(self, record, grace=30.0, *, checkpoint_wait=None):
        self.calls.append("stop")
        return 1, 0

    def stopped_words(self, record, found):
        return "taken off queue q1"

    def stop_means(self, record, grace):
        return "it leaves queue q1"

    def stop_resume_note(self):
        return "it resumes in q1"

    def _refuse_resume(self, record, nproc):
        pass

    def _resume(self, record, nproc):
        self.calls.append("resume")
        return record


def test_a_third_backend_is_one_registration_line(frcnn_home, monkeypatch, capsys):
    from launcher.cli.main import main
    from launcher.jobs import summary

    monkeypatch.setitem(backends.BACKENDS, "elsewhere", f"{__name__}:ElsewhereBackend")
    monkeypatch.setattr(backends, "_loaded", {})
    monkeypatch.setattr(ElsewhereBackend, "calls", [])
    record = dataclasses.replace(add_job("20261201-000000-cccc", status="stopped"), backend="elsewhere")
    registry.save(record)
    (record.run_path / "exit_status").unlink()  # not finished: resume may go on
    (record.run_path / "last_checkpoint").write_text("epoch_1.pth")
    row = summary.summarize(record)
    assert (row["status"], row["devices"], row["backend"], row["elsewhere_queue"]) == \
        ("running", "elsewhere×1", "elsewhere", "q1")
    assert main(["stop", record.id]) == 0
    assert capsys.readouterr().out.strip() == f"stopped job {record.id}: taken off queue q1, 0 left"
    assert main(["resume", record.id]) == 0
    assert capsys.readouterr().out.strip().endswith(", queue q1")
    assert ElsewhereBackend.calls == ["stop", "resume"]


# -- nobody else branches on the backend --------------------------------------------------------

BRANCH = re.compile(r"is_slurm|backend ==|backend !=|\.backend\b|registry\.(SLURM|LOCAL)\b|[\"']backend[\"']\)")
# Not a job backend: MMEngine's distributed one (gloo, nccl), env_cfg.dist_cfg.backend in a config.
NOT_A_JOB_BACKEND = re.compile(r"dist_cfg\b.*")


def test_no_module_outside_launcher_jobs_branches_on_the_backend():
    found = []
    for path in sorted([*(REPO / "launcher").rglob("*.py"), *(REPO / "tui").rglob("*.py")]):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("launcher/jobs/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if BRANCH.search(NOT_A_JOB_BACKEND.sub("", line)):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert not found, "branches on the backend outside launcher/jobs/ (call launcher.jobs.backends):\n" + \
        "\n".join(found)
