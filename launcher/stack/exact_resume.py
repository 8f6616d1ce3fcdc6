"""Checkpoint on request at an iteration boundary, and resume at the very next batch.

MMEngine 0.10's EpochBasedTrainLoop resumes a checkpoint saved inside an epoch by running
that epoch again from its first batch (only the iteration counter continues): the data of
the partial epoch are seen twice and iteration schedules run ahead. This module closes that:

- a request (the file REQUEST_FILE in the work dir, written by `frcnn-tui stop --checkpoint`
  or by the SLURM batch script's trap of its warning signal; or REQUEST_SIGNAL sent to a rank)
  is turned into ONE decision of all ranks at the end of an iteration (an all_reduce of a
  flag), so no rank saves or leaves alone;
- the checkpoint is written under a temporary name and renamed, then last_checkpoint is
  replaced the same way: a kill in the middle leaves the previous checkpoint the valid one;
- the checkpoint's meta gets the position in the epoch and each rank's sampler state (its
  seed: DefaultSampler orders an epoch by seed + epoch), and a resume skips the batches
  already trained on at the batch sampler (indices only: no image of them is loaded), so
  the epoch goes on with the same samples in the same order as an uninterrupted run;
- after the save the ranks leave train() normally and rank 0 writes CHECKPOINTED_FILE; the
  launch script turns the workers' 0 into CHECKPOINT_EXIT (a rank exiting non-zero would make
  torchrun or srun kill the others and report a failure).

The top of this file is stdlib only: the launcher imports it for the names of these files and
the status. The mmengine parts are built by install(), in the training interpreter only.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

REQUEST_FILE = "checkpoint_request"  # its content: why (a line), e.g. "stop" or "slurm-signal"
CHECKPOINTED_FILE = "checkpointed.json"  # what was saved and why, written after the save
CHECKPOINT_EXIT = 75  # the job's exit status after a checkpoint on request (EX_TEMPFAIL: try again)
REQUEST_SIGNAL = "SIGUSR1"  # SIGUSR2 dumps stacks (train_entry.register_stack_dumps)
META_KEY = "frcnn_tui_position"
CHECKPOINT_PREFIX = "checkpoint_iter_"  # iteration checkpoints of this module; epoch ones are MMEngine's
# Work lost: rank 0 keeps the last iteration it trained in PROGRESS_FILE; each start after an earlier
# one appends {time, resumed_at, trained_before, redone} to RESTARTS_FILE (redone: iterations trained again).
PROGRESS_FILE = ".trained_iter"
RESTARTS_FILE = "restarts.jsonl"


def request(run_dir: str | os.PathLike, reason: str) -> None:
    """Ask a running job to checkpoint at its next iteration boundary and exit."""
    path = Path(run_dir) / REQUEST_FILE
    tmp = path.with_name(f".{REQUEST_FILE}.{os.getpid()}")
    tmp.write_text(reason + "\n")
    os.replace(tmp, path)


def read_restarts(run_dir: str | os.PathLike) -> list[dict]:
    """Every start of the run after an earlier one, with the iterations it trained again."""
    try:
        lines = (Path(run_dir) / RESTARTS_FILE).read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill: the others still count
        if isinstance(row, dict) and isinstance(row.get("redone"), int):
            rows.append(row)
    return rows


def read_checkpointed(run_dir: str | os.PathLike) -> dict | None:
    """What the last checkpoint on request saved ({iter, epoch, batches_done, checkpoint, reason}), or None."""
    try:
        data = json.loads((Path(run_dir) / CHECKPOINTED_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def install(runner) -> None:
    """Give RUNNER (built, not yet training) the exact-resume loop, batch sampler and hook.

    Only the runtime objects change (runner._train_loop / _train_dataloader are the config
    dicts it builds from when train() starts): the config dumped in the work dir stays the
    user's, runnable with mmdet's own tools. A loop other than EpochBasedTrainLoop keeps its
    own resume; the checkpoint on request works the same."""
    loop_cls, batch_sampler_cls, hook_cls = _classes()
    loop_cfg, loader_cfg = runner._train_loop, runner._train_dataloader
    exact = (isinstance(loop_cfg, dict) and loop_cfg.get("type") in ("EpochBasedTrainLoop", "mmengine.EpochBasedTrainLoop")
             and isinstance(loader_cfg, dict))
    if exact:
        runner._train_loop = {**loop_cfg, "type": loop_cls}
        inner = loader_cfg.get("batch_sampler")
        runner._train_dataloader = {**loader_cfg, "batch_sampler": dict(
            type=batch_sampler_cls, inner=inner, drop_last=loader_cfg.get("drop_last", False))}
    runner.register_hook(hook_cls(exact=exact), priority="LOWEST")  # after the scheduler and checkpoint hooks


_CLASSES: tuple | None = None


def _classes() -> tuple:
    """The mmengine classes, defined once (mmengine is imported only in the training interpreter)."""
    global _CLASSES
    if _CLASSES is not None:
        return _CLASSES
    import itertools

    import torch
    from mmengine import dist
    from mmengine.hooks import Hook
    from mmengine.registry import DATA_SAMPLERS
    from mmengine.runner import EpochBasedTrainLoop
    from torch.utils.data import BatchSampler

    class SkippingBatchSampler:
        """The configured batch sampler (or torch's), whose next epoch can start SKIP batches in:
        the skipped batches are drawn as indices only, so the order after them is the one an
        uninterrupted epoch has (AspectRatioBatchSampler's grouping included)."""

        def __init__(self, sampler, batch_size: int, inner: dict | None = None, drop_last: bool = False) -> None:
            self.sampler, self.batch_size, self.skip = sampler, batch_size, 0
            self.inner = (DATA_SAMPLERS.build(inner, default_args=dict(sampler=sampler, batch_size=batch_size))
                          if inner else BatchSampler(sampler, batch_size, drop_last))

        def __iter__(self):
            skip, self.skip = self.skip, 0
            batches = iter(self.inner)
            for _ in itertools.islice(batches, skip):
                pass
            yield from batches

        def __len__(self) -> int:
            return len(self.inner)

    class ExactResumeLoop(EpochBasedTrainLoop):
        """EpochBasedTrainLoop whose first epoch after a resume starts at `resume_at` batches in,
        with the batch index (what the logs print as [epoch][i/n]) counting on from there."""

        resume_at = 0

        def run_epoch(self) -> None:
            start, self.resume_at = self.resume_at, 0
            self.runner.call_hook("before_train_epoch")
            self.runner.model.train()
            self.dataloader.batch_sampler.skip = start
            for idx, data_batch in enumerate(self.dataloader, start):
                self.run_iter(idx, data_batch)
            self.runner.call_hook("after_train_epoch")
            self._epoch += 1

    class CheckpointOnRequest(Hook):
        priority = "LOWEST"

        def __init__(self, exact: bool) -> None:
            self.exact = exact
            self.signalled = False
            self.loaded: dict | None = None
            self.progress_fd: int | None = None

        def before_train(self, runner) -> None:
            signal.signal(getattr(signal, REQUEST_SIGNAL), self._on_signal)
            if runner.launcher == "slurm":
                # SLURM's SIGTERM (a preemption, a requeue, the time limit, scancel) comes GraceTime or
                # KillWait (30 s by default) before its SIGKILL: room for an iteration and the save.
                signal.signal(signal.SIGTERM, self._on_signal)
            self._restore_position(runner)
            if runner.rank == 0:  # a save cut off by a kill never got its name: nothing refers to it
                for partial in Path(runner.work_dir).glob(f".{CHECKPOINT_PREFIX}*"):
                    partial.unlink(missing_ok=True)
                self._note_restart(runner)

        def _note_restart(self, runner) -> None:
            """Rank 0: how many iterations this start trains again (0 after a checkpoint on request)."""
            path = Path(runner.work_dir) / PROGRESS_FILE
            try:
                before = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                before = None  # the first start (or a run without this file): nothing to measure
            if before is not None:
                resumed = runner.train_loop.iter
                row = {"time": round(time.time(), 3), "resumed_at": resumed, "trained_before": before,
                       "redone": max(before - resumed, 0)}
                with open(Path(runner.work_dir) / RESTARTS_FILE, "a") as out:
                    out.write(json.dumps(row) + "\n")
            try:
                self.progress_fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            except OSError:
                self.progress_fd = None

        def _note_progress(self, iteration: int) -> None:
            # One pwrite of fixed width per iteration: what a kill -9 leaves is the last iteration done.
            if self.progress_fd is not None:
                try:
                    os.pwrite(self.progress_fd, f"{iteration:>12}\n".encode(), 0)
                except OSError:
                    self.progress_fd = None

        def _on_signal(self, signum, frame) -> None:
            self.signalled = True  # acted on at the next iteration boundary, by all ranks together

        # -- resume
        def after_load_checkpoint(self, runner, checkpoint) -> None:
            self.loaded = checkpoint.get("meta", {}).get(META_KEY)

        def _restore_position(self, runner) -> None:
            position, self.loaded = self.loaded, None
            loop = runner.train_loop
            # Only a resume of this very checkpoint (load_from of the same file sets no counters).
            if not position or position.get("iter") != loop.iter or position.get("epoch") != loop.epoch:
                return
            batch_sampler = getattr(loop.dataloader, "batch_sampler", None)
            ranks = position.get("ranks") or []
            mine = next((r for r in ranks if r.get("rank") == runner.rank), None)
            sampler = getattr(batch_sampler, "sampler", None)
            if mine and mine.get("seed") is not None and hasattr(sampler, "seed"):
                sampler.seed = mine["seed"]  # a run without a set seed drew one: the order needs it back
            done = int(position.get("batches_done") or 0)
            if not done:
                return
            if not self.exact:
                runner.logger.warning(f"frcnn-tui: this train loop restarts epoch {loop.epoch + 1} from its first "
                                      f"batch ({done} batches of it are trained again)")
                return
            old_ws, new_ws = len(ranks) or runner.world_size, runner.world_size
            if old_ws != new_ws:  # another world size splits the epoch otherwise: keep the samples seen
                done = done * old_ws // new_ws
                runner.logger.warning(f"frcnn-tui: world size {new_ws} instead of {old_ws}: the epoch goes on "
                                      f"after {done} batches, in another order than the uninterrupted run")
            loop.resume_at = done
            runner.logger.info(f"frcnn-tui: resuming epoch {loop.epoch + 1} at batch {done + 1} "
                               f"(iteration {loop.iter + 1}), the batches before it are not trained again")

        # -- the request
        def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
            if runner.rank == 0:
                self._note_progress(runner.iter + 1)
            asked = self.signalled or (runner.rank == 0 and (Path(runner.work_dir) / REQUEST_FILE).exists())
            flag = torch.tensor([1 if asked else 0], dtype=torch.int32)
            dist.all_reduce(flag, op="max")  # one decision for all ranks
            if not int(flag.item()):
                return
            self._save(runner, batch_idx + 1)
            dist.barrier()
            raise CheckpointedStop(runner.iter + 1)

        def _save(self, runner, batches_done: int) -> None:
            sampler = getattr(getattr(runner.train_loop.dataloader, "batch_sampler", None), "sampler", None)
            mine = {"rank": runner.rank, "seed": getattr(sampler, "seed", None),
                    "sampler_epoch": getattr(sampler, "epoch", None)}
            ranks = dist.all_gather_object(mine) if runner.world_size > 1 else [mine]
            if runner.rank != 0:
                return
            work_dir = Path(runner.work_dir)
            iteration = runner.iter + 1
            position = {"epoch": runner.epoch, "iter": iteration, "batches_done": batches_done, "ranks": ranks}
            final = work_dir / f"{CHECKPOINT_PREFIX}{iteration}.pth"
            tmp = f".{final.name}.partial"
            runner.save_checkpoint(str(work_dir), tmp, by_epoch=False, meta={META_KEY: position})
            _test_pause_after_write(work_dir / tmp)
            os.replace(work_dir / tmp, final)  # whole, or not there at all
            previous = _pointed(work_dir)
            write_atomic(work_dir / "last_checkpoint", str(final))
            if previous and previous.name.startswith(CHECKPOINT_PREFIX) and previous != final:
                previous.unlink(missing_ok=True)  # an older checkpoint on request: superseded
            try:
                reason = (work_dir / REQUEST_FILE).read_text().strip() or "request"
            except OSError:
                reason = "signal"
            (work_dir / REQUEST_FILE).unlink(missing_ok=True)
            write_atomic(work_dir / CHECKPOINTED_FILE, json.dumps({
                "iter": iteration, "epoch": runner.epoch + 1, "batches_done": batches_done,
                "checkpoint": str(final), "reason": reason}))
            runner.logger.info(f"frcnn-tui: checkpoint on request ({reason}) at iteration {iteration}, "
                               f"epoch {runner.epoch + 1} batch {batches_done}: {final}")

        def after_train_epoch(self, runner) -> None:
            # The epoch's own checkpoint (CheckpointHook ran before this hook) supersedes ours.
            if runner.rank != 0:
                return
            pointed = _pointed(Path(runner.work_dir))
            for old in Path(runner.work_dir).glob(f"{CHECKPOINT_PREFIX}*.pth"):
                if pointed is not None and pointed.name.startswith("epoch_") and old != pointed:
                    old.unlink(missing_ok=True)

    _CLASSES = (ExactResumeLoop, SkippingBatchSampler, CheckpointOnRequest)
    return _CLASSES


class CheckpointedStop(Exception):
    """Raised on every rank after the checkpoint on request: train() ends here, the entry exits 0."""

    def __init__(self, iteration: int) -> None:
        super().__init__(f"checkpointed at iteration {iteration}")
        self.iteration = iteration


def _pointed(work_dir: Path) -> Path | None:
    try:
        text = (work_dir / "last_checkpoint").read_text().strip()
    except OSError:
        return None
    return Path(text) if text else None


PAUSE_ENV = "FRCNN_TUI_TEST_PAUSE_IN_SAVE"  # test-only: seconds to wait with the checkpoint written, not renamed


def _test_pause_after_write(partial: Path) -> None:
    """Test-only: hold the checkpoint under its temporary name, so a test can kill the job
    in the middle of a save and check last_checkpoint still names a whole file."""
    seconds = os.environ.get(PAUSE_ENV)
    if seconds:
        (partial.parent / f"{partial.name}.paused").write_text("")
        time.sleep(float(seconds))
