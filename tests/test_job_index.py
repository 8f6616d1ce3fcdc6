"""A finished job's row is computed once and kept (launcher.jobs.summary_index); a change to
what it was read from (its registry entry, its run dir, its logs) computes it again; live
jobs are never kept. Through the real CLI (`jobs --json`) on real MMEngine work dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).with_name("data")))

from mmlog import copy_fixture, line, val_record  # noqa: E402

from launcher import paths  # noqa: E402
from launcher.jobs import identity, registry  # noqa: E402
from launcher.jobs.registry import JobRecord  # noqa: E402
from launcher.jobs.summary_index import INDEX_FILE  # noqa: E402

STAMP = "20261128_231000"  # tests/data/run_2epochs: best bbox_mAP 0.365 at epoch 2


def finished_job(tmp_path: Path, job_id: str = "20261201-000000-done", exit_code: int = 0) -> JobRecord:
    """A job whose run ended: its work dir a copy of a recorded run, its exit file written,
    its recorded leader long gone (pid 1 is never the job's: identity checks the marker)."""
    run_dir = copy_fixture("run_2epochs", tmp_path / job_id)
    (run_dir / registry.EXIT_FILE).write_text(f"{exit_code}\n")
    record = JobRecord(id=job_id, name="done", preset="r50-fpn-1x", run_dir=str(run_dir), gpu_ids=[0], cpu=False,
                       nproc_per_node=1, nodes=1, pid=1, pgid=1, create_time=1.0, started_at=time.time(),
                       port=29500, command=["true"], python=sys.executable, max_epochs=2)
    registry.save(record)
    return record


def jobs_json(cli) -> dict[str, dict]:
    out = cli("jobs", "--json")
    assert out.returncode == 0, out.stderr
    return {row["id"]: row for row in json.loads(out.stdout)["jobs"]}


def index() -> dict:
    return json.loads((paths.cache_dir() / INDEX_FILE).read_text())["jobs"]


def plant(job_id: str, **fields) -> None:
    """Changes a kept row in place: a list that shows the planted value read the index, not the logs."""
    path = paths.cache_dir() / INDEX_FILE
    data = json.loads(path.read_text())
    data["jobs"][job_id]["row"].update(fields)
    path.write_text(json.dumps(data))


def test_a_finished_jobs_row_is_kept_and_read_back(tmp_path, cli):
    job = finished_job(tmp_path)
    first = jobs_json(cli)[job.id]
    assert (first["status"], first["best_map"], first["progress"]) == ("succeeded", 0.365, "epoch 2/2")
    assert index()[job.id]["row"] == first
    plant(job.id, best_map=0.999)
    assert jobs_json(cli)[job.id]["best_map"] == 0.999  # not recomputed: nothing it was read from changed


def test_a_change_in_the_run_dir_or_the_entry_computes_the_row_again(tmp_path, cli):
    job = finished_job(tmp_path)
    jobs_json(cli)
    # A new evaluation appended to the scalars: the size changes.
    plant(job.id, best_map=0.999)
    with open(Path(job.run_dir) / STAMP / "vis_data" / "scalars.json", "a") as fh:
        fh.write(line(val_record(3, 0.401)))
    row = jobs_json(cli)[job.id]
    assert row["best_map"] == 0.401 and row["best_epoch"] == 3
    # A resume: the exit file goes and the registry entry is rewritten (here, to a run that failed).
    plant(job.id, best_map=0.999)
    (Path(job.run_dir) / registry.EXIT_FILE).write_text("1\n")
    assert jobs_json(cli)[job.id]["status"] == "failed"
    plant(job.id, status="succeeded")
    job.resumes += 1
    registry.save(job)
    assert jobs_json(cli)[job.id]["status"] == "failed"
    # A new timestamp folder (the run dir reused by a later run or a resume): the listing changes.
    plant(job.id, best_map=0.999)
    (Path(job.run_dir) / "20261129_000000").mkdir()
    assert jobs_json(cli)[job.id]["best_map"] == 0.401


def test_live_jobs_are_followed_not_kept_and_removed_jobs_leave_the_index(tmp_path, cli):
    done = finished_job(tmp_path)
    live_id = "20261201-000001-live"
    proc = subprocess.Popen(["sleep", "60"], env={**os.environ, **identity.marker_env(live_id)})
    try:
        import psutil

        live_dir = copy_fixture("run_2epochs", tmp_path / live_id)
        registry.save(JobRecord(id=live_id, name="live", preset="r50-fpn-1x", run_dir=str(live_dir), gpu_ids=[0],
                                cpu=False, nproc_per_node=1, nodes=1, pid=proc.pid, pgid=proc.pid,
                                create_time=psutil.Process(proc.pid).create_time(), started_at=time.time(),
                                port=29501, command=["sleep"], python=sys.executable, max_epochs=2))
        rows = jobs_json(cli)
        assert rows[live_id]["status"] == "running" and rows[done.id]["status"] == "succeeded"
        assert set(index()) == {done.id}
    finally:
        proc.kill()
        proc.wait()
    (paths.jobs_dir() / f"{done.id}.json").unlink()
    rows = jobs_json(cli)
    assert set(rows) == {live_id} and rows[live_id]["status"] == "failed"  # ended without its exit file
    assert set(index()) == {live_id}  # the removed job is dropped; the ended one kept now


def test_a_broken_index_is_computed_again(tmp_path, cli):
    job = finished_job(tmp_path)
    paths.cache_dir().joinpath(INDEX_FILE).write_text("{not json")
    assert jobs_json(cli)[job.id]["best_map"] == 0.365
    assert job.id in index()


def test_a_refreshing_list_follows_live_jobs_and_looks_at_finished_ones_when_the_registry_changes(tmp_path):
    """The Jobs screen's list (summary.JobList): its first refresh shows kept rows unchecked
    (provisional) and the next looks at every job; between two full looks only live jobs are
    read again; a change to the registry (a resume, a launch) or a minute passing brings a full look."""
    from launcher.jobs.summary import JobList, summarize_all

    now = [1000.0]
    job = finished_job(tmp_path)
    summarize_all()  # kept, as a `jobs` or an earlier TUI leaves it
    with open(Path(job.run_dir) / STAMP / "vis_data" / "scalars.json", "a") as fh:
        fh.write(line(val_record(3, 0.401)))
    jobs = JobList(clock=lambda: now[0])
    assert jobs.refresh(print)[0][1]["best_map"] == 0.365 and jobs.provisional  # as kept, at once
    assert jobs.refresh(print)[0][1]["best_map"] == 0.401 and not jobs.provisional  # then looked at
    assert jobs.full_looks == 1
    with open(Path(job.run_dir) / STAMP / "vis_data" / "scalars.json", "a") as fh:
        fh.write(line(val_record(4, 0.42)))
    now[0] += 30
    assert jobs.refresh(print)[0][1]["best_map"] == 0.401 and jobs.full_looks == 1  # stats only, no look
    now[0] += 30
    assert jobs.refresh(print)[0][1]["best_map"] == 0.42 and jobs.full_looks == 2  # a minute: a full look
    # A second job launched (the jobs dir changes): listed at the next refresh, not a minute later.
    finished_job(tmp_path, job_id="20261201-000002-next")
    assert [r.id for r, _ in jobs.refresh(print)] == [job.id, "20261201-000002-next"]
    assert jobs.full_looks == 3


def test_a_line_in_stdout_log_computes_the_row_again(tmp_path, cli):
    """The tailer reads stdout.log too (a stop's or resume's attempt mark lands there)."""
    job = finished_job(tmp_path)
    jobs_json(cli)
    plant(job.id, best_map=0.999)
    with open(Path(job.run_dir) / "stdout.log", "a") as fh:
        fh.write("one more line\n")
    assert jobs_json(cli)[job.id]["best_map"] == 0.365


def test_an_unchanged_registry_entry_is_read_from_the_index_and_a_rewritten_one_from_its_file(tmp_path, cli):
    job = finished_job(tmp_path)
    jobs_json(cli)
    path = paths.cache_dir() / INDEX_FILE

    def plant_entry(fields: dict) -> None:  # the kept fields changed, the row dropped: it is computed from them
        data = json.loads(path.read_text())
        data["entries"][job.id][1] = fields
        del data["jobs"][job.id]
        path.write_text(json.dumps(data))

    assert json.loads(path.read_text())["entries"][job.id][1] == job.to_dict()
    plant_entry(dict(job.to_dict(), name="from-the-index"))
    assert jobs_json(cli)[job.id]["name"] == "from-the-index"  # its file was not opened again
    job.name = "renamed"
    registry.save(job)
    assert jobs_json(cli)[job.id]["name"] == "renamed"
    plant_entry({"bogus": 1})  # a broken index is a cache miss, never a corrupt entry
    out = cli("jobs", "--json")
    assert out.returncode == 0 and "corrupt" not in out.stderr
    assert {r["id"]: r for r in json.loads(out.stdout)["jobs"]}[job.id]["name"] == "renamed"
    assert (paths.jobs_dir() / f"{job.id}.json").exists()


def test_a_settled_run_dir_is_checked_without_listing_it_and_a_change_is_still_seen(tmp_path, monkeypatch):
    """An old job's row is checked with a stat per file it was read from (not a listing of its
    run dir and a stat per file it might have: most of `jobs` with ten thousand jobs), and an
    append to its scalars or stdout.log, or a new file in its run dir, still computes it again."""
    from launcher.jobs.summary import summarize_all

    job = finished_job(tmp_path)
    run_dir = Path(job.run_dir)
    day_ago = time.time() - 86400
    os.utime(run_dir, (day_ago, day_ago))  # as a job that ended yesterday
    assert summarize_all()[0]["best_map"] == 0.365  # kept

    listed, stated = [], []
    real_scandir, real_stat = os.scandir, os.stat
    plant(job.id, best_map=0.999)
    with monkeypatch.context() as m:  # the real calls, counted
        m.setattr(os, "scandir", lambda path=".": listed.append(str(path)) or real_scandir(path))
        m.setattr(os, "stat", lambda path, *a, **k: stated.append(str(path)) or real_stat(path, *a, **k))
        assert summarize_all()[0]["best_map"] == 0.999  # from the index
    under = [p for p in stated if p.startswith(str(run_dir))]
    assert str(run_dir) not in listed and len(under) <= 6, (listed, under)  # the dir, its 5 files

    with open(run_dir / STAMP / "vis_data" / "scalars.json", "a") as fh:
        fh.write(line(val_record(3, 0.401)))
    assert summarize_all()[0]["best_map"] == 0.401
    plant(job.id, best_map=0.999)
    with open(run_dir / "stdout.log", "a") as fh:
        fh.write("one more line\n")
    assert summarize_all()[0]["best_map"] == 0.401
    plant(job.id, best_map=0.999)
    (run_dir / registry.STOP_FILE).write_text("")  # a file that was not there: the listing changes
    assert summarize_all()[0]["best_map"] == 0.401


def test_jobs_json_prints_indented_json_without_the_table_renderer(tmp_path, cli):
    """`jobs --json` with many jobs: the same indented JSON (written by orjson), and no import
    of rich's tables, which only the text table needs."""
    job = finished_job(tmp_path)
    cli("jobs", "--json")  # kept
    out = cli("jobs", "--json", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert out.returncode == 0
    assert out.stdout == json.dumps(json.loads(out.stdout), indent=2) + "\n"
    assert json.loads(out.stdout)["jobs"][0]["id"] == job.id
    imported = {ln.split("|")[-1].strip() for ln in out.stderr.splitlines() if ln.startswith("import time:")}
    assert "launcher.cli.render" not in imported and "rich.table" not in imported
    assert "rich.table" in {ln.split("|")[-1].strip() for ln in
                            cli("jobs", env={"PYTHONPROFILEIMPORTTIME": "1"}).stderr.splitlines()}
