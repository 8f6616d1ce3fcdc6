"""Checkpoint on request and exact resume (issue 27), on real demo-cpu training under torchrun.

A job stopped with `stop --checkpoint` in the middle of an epoch and resumed must train the
same iterations, on the same images per rank, as an uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from test_faults_jobs import _monitor
from tui_support import sync
from training_helpers import (explain, launch, make_tiny_dataset, needs_stack, scalars_lines, slow_loading,
                              tiny_launch_args, wait_done, wait_for)

pytestmark = needs_stack

RECORD = {"FRCNN_TUI_TEST_RECORD_SAMPLES": "1"}  # train_entry's test-only hook: image ids per rank and iteration
TRAIN_IMAGES, EPOCHS, NPROC = 24, 2, 2
ITERS_PER_EPOCH = TRAIN_IMAGES // NPROC  # one image per rank and iteration


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data"), train=TRAIN_IMAGES)


def samples(run_dir: Path, rank: int) -> list[tuple[int, list]]:
    path = run_dir / "samples" / f"rank{rank}.jsonl"
    return [(row["iter"], row["ids"]) for row in map(json.loads, path.read_text().splitlines())]


def train_iters(run_dir: Path) -> list[int]:
    """The iteration of every logged training row, in the order the attempts logged them."""
    rows = []
    for path in sorted(run_dir.glob("*/vis_data/scalars.json")):  # one folder per attempt, by start time
        rows += [row["iter"] for row in map(json.loads, path.read_text().splitlines()) if "loss" in row]
    return rows


def launch_recorded(data: Path) -> dict:
    result = run_cli("launch", *tiny_launch_args(data, epochs=EPOCHS, nproc=NPROC), env=RECORD)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_stop_checkpoint_mid_epoch_resumes_at_the_next_batch_in_the_same_order(data):
    reference = launch_recorded(data)
    job = launch_recorded(data)
    run_dir = Path(job["run_dir"])
    # Into the first epoch, then the checkpoint at the next iteration boundary.
    wait_for(lambda: (run_dir / "samples" / "rank0.jsonl").exists()
             and len(samples(run_dir, 0)) >= 3, 300, "three iterations of the first epoch")
    result = run_cli("stop", job["id"], "--checkpoint", "--json", "--checkpoint-wait", "120")
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout)
    saved = stopped["checkpoint"]
    assert stopped["status"] == "stopped" and stopped["left"] == 0, stopped
    assert saved and 0 < saved["batches_done"] < ITERS_PER_EPOCH, (saved, explain(run_dir))  # inside the epoch
    assert saved["iter"] == saved["batches_done"] and saved["epoch"] == 1
    assert (run_dir / "exit_status").read_text().strip() == "75"
    assert Path((run_dir / "last_checkpoint").read_text().strip()) == run_dir / f"checkpoint_iter_{saved['iter']}.pth"
    assert [it for it, _ in samples(run_dir, 0)] == list(range(1, saved["iter"] + 1))  # none trained past it

    result = run_cli("resume", job["id"], "--json", env=RECORD)
    assert result.returncode == 0, result.stderr
    assert wait_done(job["id"]) == "succeeded", explain(run_dir)
    assert wait_done(reference["id"]) == "succeeded", explain(Path(reference["run_dir"]))

    # No gap, no repeat: the resumed attempt's first iteration is the one after the checkpoint.
    total = EPOCHS * ITERS_PER_EPOCH
    assert train_iters(run_dir) == list(range(1, total + 1))
    # Each rank trained on the very images, in the very order, of the uninterrupted run.
    for rank in range(NPROC):
        assert samples(run_dir, rank) == samples(Path(reference["run_dir"]), rank), f"rank {rank}"
    # The lr schedule is at the right iteration: the lr-after-resume check has nothing to say.
    jobs = {j["id"]: j for j in json.loads(run_cli("jobs", "--json").stdout)["jobs"]}
    assert not [a for a in jobs[job["id"]].get("alerts") or [] if a.get("kind") == "lr-after-resume"]
    lrs = {row["iter"]: row["lr"] for row in scalars_lines(run_dir) if "loss" in row}
    reference_lrs = {row["iter"]: row["lr"] for row in scalars_lines(Path(reference["run_dir"])) if "loss" in row}
    assert lrs == pytest.approx(reference_lrs)
    # Work lost, as jobs shows it: nothing redone at the restart.
    assert jobs[job["id"]]["redone_per_restart"] == [0]
    assert "iterations redone per restart: 0" in run_cli("jobs").stdout
    _monitor(job["id"], lambda text: "iterations redone per restart: 0" in text, 30, "the work lost in the Monitor")
    assert run_cli("report", job["id"]).returncode == 0
    assert f"- restart 1: resumed at iteration {saved['iter']} after {saved['iter']} trained: 0 iterations redone" \
        in (run_dir / "report" / "report.md").read_text()
    # The epoch checkpoint that followed superseded the one on request.
    assert not list(run_dir.glob("checkpoint_iter_*.pth"))


def test_a_stop_in_the_middle_of_the_save_leaves_the_previous_checkpoint_valid(tmp_path):
    small = make_tiny_dataset(tmp_path)  # 16 images: 8 iterations an epoch on 2 ranks
    # Test-only: the save holds its written file under the temporary name for 120 s.
    result = run_cli("launch", *tiny_launch_args(small, epochs=2, nproc=NPROC),
                     env={"FRCNN_TUI_TEST_PAUSE_IN_SAVE": "120"})
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    run_dir = Path(job["run_dir"])
    epoch_1 = run_dir / "epoch_1.pth"
    wait_for(lambda: (run_dir / "last_checkpoint").exists() and scalars_lines(run_dir)
             and max(r.get("iter", 0) for r in scalars_lines(run_dir)) > 8, 300, "the second epoch")
    assert Path((run_dir / "last_checkpoint").read_text().strip()) == epoch_1
    # The save starts, and the stop's wait for it runs out while the file is written: signals, then SIGKILL.
    result = run_cli("stop", job["id"], "--checkpoint", "--checkpoint-wait", "8", "--grace", "2", "--json")
    assert result.returncode == 0, result.stderr
    stopped = json.loads(result.stdout)
    assert stopped["checkpoint"] is None and stopped["status"] == "stopped", stopped
    assert list(run_dir.glob(".checkpoint_iter_*.paused")), "the stop did not come during the save"
    # last_checkpoint still names the epoch's checkpoint, whole; the half-made one has no final name.
    assert Path((run_dir / "last_checkpoint").read_text().strip()) == epoch_1
    assert not list(run_dir.glob("checkpoint_iter_*.pth"))
    assert loaded_epoch(epoch_1) == 1
    # And the job resumes from it (the leftover partial file is cleared).
    assert run_cli("resume", job["id"], "--json").returncode == 0
    assert wait_done(job["id"]) == "succeeded", explain(run_dir)
    assert not list(run_dir.glob(".checkpoint_iter_*"))
    # What the cut save cost: the iterations of epoch 2 trained before it, measured at the restart.
    redone = json.loads(run_cli("jobs", "--json").stdout)["jobs"][0]["redone_per_restart"]
    assert len(redone) == 1 and 0 < redone[0] <= 8, redone


def val_rows(run_dir: Path) -> list[dict]:
    return [row for row in scalars_lines(run_dir) if "coco/bbox_mAP" in row]


def test_a_stop_during_evaluation_saves_after_it_and_the_resume_redoes_nothing(tmp_path):
    small = make_tiny_dataset(tmp_path)  # 16 images: 8 iterations an epoch on 2 ranks; 8 val images
    iters_per_epoch = 8
    # The val loader sleeps 3 s an image (4 images a rank): epoch 1's evaluation takes over 12 s.
    options, env = slow_loading("val_dataloader", seconds=3)
    result = run_cli("launch", *tiny_launch_args(small, epochs=2, nproc=NPROC, cfg_options=options), env=env)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)
    run_dir = Path(job["run_dir"])
    epoch_1 = run_dir / "epoch_1.pth"

    def pointed() -> Path | None:
        text = (run_dir / "last_checkpoint").read_text().strip() if (run_dir / "last_checkpoint").exists() else ""
        return Path(text) if text else None

    # The epoch's checkpoint is written right before the evaluation: the request comes during it.
    wait_for(lambda: pointed() == epoch_1, 300, "the first epoch's checkpoint")
    assert not val_rows(run_dir), "the evaluation ended before the request"
    stop = subprocess.Popen([sys.executable, "-m", "launcher.cli", "stop", job["id"], "--checkpoint", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    # While the evaluation runs with the request pending, last_checkpoint is the epoch's, whole.
    wait_for(lambda: (run_dir / "checkpoint_request").exists() or stop.poll() is not None, 30, "the request")
    assert not val_rows(run_dir) and pointed() == epoch_1
    assert loaded_epoch(epoch_1) == 1
    out, err = stop.communicate(timeout=300)
    assert stop.returncode == 0, err
    saved = json.loads(out)["checkpoint"]
    # Saved at the first iteration boundary after the evaluation, which ran to its end once.
    assert saved and (saved["iter"], saved["epoch"], saved["batches_done"]) == (iters_per_epoch + 1, 2, 1), \
        (saved, explain(run_dir))
    assert [row["step"] for row in val_rows(run_dir)] == [1]
    assert pointed() == run_dir / f"checkpoint_iter_{iters_per_epoch + 1}.pth" and epoch_1.exists()
    assert loaded_epoch(pointed()) == 1  # MMEngine's meta of an iteration save: the epoch it is in, 0-based

    assert run_cli("resume", job["id"], "--json", env=env).returncode == 0
    assert wait_done(job["id"]) == "succeeded", explain(run_dir)
    # Nothing redone: every iteration trained once, epoch 1 evaluated once, then epoch 2.
    assert train_iters(run_dir) == list(range(1, 2 * iters_per_epoch + 1))
    assert [row["step"] for row in val_rows(run_dir)] == [1, 2]
    assert json.loads(run_cli("jobs", "--json").stdout)["jobs"][0]["redone_per_restart"] == [0]


def loaded_epoch(checkpoint: Path) -> int:
    """The meta epoch of CHECKPOINT as torch loads it in another process (a whole file loads)."""
    probe = subprocess.run([sys.executable, "-c", "import sys, torch; c = torch.load(sys.argv[1], weights_only=False,"
                            " map_location='cpu'); print(c['meta']['epoch'])", str(checkpoint)],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    return int(probe.stdout.strip())


@sync
async def test_the_tui_stop_dialog_offers_checkpoint_then_stop(data):
    from launcher.jobs import job_status, registry, status_words
    from tui_support import make_app, open_monitor, wait_for as pilot_wait
    from tui.screens.dialogs import StopDialog

    job = launch_recorded(data)
    run_dir = Path(job["run_dir"])
    wait_for(lambda: (run_dir / "samples" / "rank0.jsonl").exists(), 300, "the first iteration")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await open_monitor(pilot, registry.find(job["id"]))
        await pilot.press("x")
        await pilot_wait(pilot, lambda: isinstance(app.screen, StopDialog), what="the stop dialog")
        await pilot.press("c")
        await pilot_wait(pilot, lambda: "at a checkpoint of iteration" in "\n".join(
            str(n.message) for n in app._notifications), 180, "the checkpointed stop")
    saved = json.loads((run_dir / "checkpointed.json").read_text())
    assert saved["reason"] == "stop" and 0 < saved["iter"] < EPOCHS * ITERS_PER_EPOCH
    assert job_status.status(registry.find(job["id"])) == status_words.STOPPED
    assert (run_dir / "exit_status").read_text().strip() == "75"
