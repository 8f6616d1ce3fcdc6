"""Training entry run by torchrun (or srun) in the *training* interpreter.

It does what mmdet's tools/train.py does (work dir, --cfg-options, --amp, --resume,
--launcher) plus the fixes MMEngine 0.10.7 needs to train distributed on CPU with
gloo. It is executed as a file path, so it must only import the stdlib and the
training stack, never the rest of the launcher package: the training interpreter
may be a conda env that does not have frcnn-tui installed. (The one exception,
the history keeper, is optional: see start_history_keeper.)
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Train a detector (frcnn-tui entry)")
    parser.add_argument("config")
    parser.add_argument("--work-dir")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--resume", nargs="?", const="auto", default=None,
                        help="resume from PATH, or from work_dir/last_checkpoint when no path is given")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    parser.add_argument("--local-rank", "--local_rank", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    return args


def _parse_cfg_options(items: list[str]) -> dict:
    # Same semantics as mmengine's DictAction (lists, tuples, numbers, None, bools).
    from mmengine.config import DictAction

    options: dict = {}
    for item in items:
        key, _, value = item.partition("=")
        options[key] = DictAction._parse_iterable(value)
    return options


def build_config(args: argparse.Namespace):
    from mmengine.config import Config

    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(_parse_cfg_options(args.cfg_options))
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get("work_dir") is None:
        cfg.work_dir = os.path.join("./work_dirs", os.path.splitext(os.path.basename(args.config))[0])
    if args.amp:
        cfg.optim_wrapper.type = "AmpOptimWrapper"
        cfg.optim_wrapper.loss_scale = "dynamic"
    if args.resume == "auto":
        cfg.resume = True
        cfg.load_from = None
    elif args.resume:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def slurm_rendezvous_env() -> None:
    """What MMEngine's slurm init derives from srun's variables, for gloo's env:// init on CPU
    (that init divides by torch.cuda.device_count(), zero here). The batch script exports
    MASTER_ADDR/MASTER_PORT; the fallbacks are MMEngine's (first node of the list, 29500)."""
    env = os.environ
    env["RANK"] = env["SLURM_PROCID"]
    env["WORLD_SIZE"] = env["SLURM_NTASKS"]
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")  # parse_args set a default 0 for every task
    env.setdefault("MASTER_PORT", "29500")
    if "MASTER_ADDR" not in env:
        import subprocess

        nodes = env.get("SLURM_STEP_NODELIST") or env["SLURM_JOB_NODELIST"]
        env["MASTER_ADDR"] = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True,
                                            text=True, check=True).stdout.split()[0]


def apply_cpu_fixes(cfg) -> None:
    """MMEngine 0.10.7 calls torch.cuda.set_device inside init_dist and gives DDP
    device_ids=[cuda]; on a CPU box both fail. Initialising the gloo group ourselves
    makes Runner skip init_dist, and device_ids=None lets DDP wrap a CPU model."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available() or cfg.launcher == "none":
        return
    if cfg.launcher == "slurm":
        slurm_rendezvous_env()
    if not dist.is_initialized():
        dist.init_process_group(backend="gloo")
    cfg.model_wrapper_cfg = dict(type="MMDistributedDataParallel", device_ids=None)
    cfg.setdefault("env_cfg", {}).setdefault("dist_cfg", {})["backend"] = "gloo"


def allow_full_unpickling(args: argparse.Namespace) -> None:
    """Only when the job resumes its own checkpoint (work_dir/last_checkpoint, written by this
    job): those hold optimizer state and mmengine objects that torch >= 2.6 refuses with
    weights_only=True. Any other file (pretrained weights, --resume PATH) keeps torch's safe
    default, since unpickling a foreign file can run arbitrary code."""
    if args.resume == "auto":
        os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    allow_full_unpickling(args)
    cfg = build_config(args)
    apply_cpu_fixes(cfg)
    stacks = register_stack_dumps(cfg.work_dir)  # noqa: F841 - kept open: faulthandler writes to it

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    runner = Runner.from_cfg(cfg) if "runner_type" not in cfg else RUNNERS.build(cfg)
    exact_resume = load_sibling("exact_resume")
    exact_resume.install(runner)
    inject_test_fault(runner)
    record_test_samples(runner)
    keeper = start_history_keeper(runner)
    try:
        runner.train()
    except exact_resume.CheckpointedStop:
        pass  # saved on request: every rank exits 0, the launch script reads checkpointed.json
    finally:
        if keeper is not None:
            keeper.stop()
    release_process_group()
    return 0


def release_process_group() -> None:
    """Destroy the process group before the interpreter ends. Left to the interpreter's own
    teardown, gloo's worker threads can still hold work with tensors in it while Python is being
    finalised; freeing those then aborts the rank (SIGABRT, "terminate called ...") after a
    training that succeeded, and torchrun reports the whole job failed (seen now and then on CI
    with two gloo ranks). Only on the way out of a train() that returned: a rank that raises
    leaves as before, with its traceback for torchrun's report."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# launcher/sentinel/stacks.py reads these (this file cannot import the launcher package).
STACKS_DIR = "stacks"
STACKS_SIGNAL = "SIGUSR2"


def load_sibling(name: str):
    """The module NAME.py beside this file, loaded by its path: the entry runs as a file (or is
    loaded as one by tests), not as part of the launcher package."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"frcnn_tui_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def register_stack_dumps(work_dir: str):
    """On SIGUSR2, every thread's Python stack goes to <work dir>/stacks/.rank<RANK>.live (appended).

    faulthandler writes from its C signal handler, so this works while the main thread is
    blocked in C (a collective that waits for a stopped or hung rank), without ptrace. The
    sentinel sends the signal when the run stalls and files each dump under stacks/<time>/.
    Returns the open file (faulthandler keeps only its descriptor), or None where the folder
    cannot be written: then no dump, and the training is the same."""
    import faulthandler
    import signal

    rank = os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or "0"
    try:
        folder = Path(work_dir) / STACKS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        live = open(folder / f".rank{int(rank)}.live", "a")
    except (OSError, ValueError):
        return None
    faulthandler.register(getattr(signal, STACKS_SIGNAL), file=live, all_threads=True)
    return live


def start_history_keeper(runner):
    """Rank 0 keeps the run's parsed history for its readers (launcher.monitor.history_keeper).

    The one import from the launcher package, and an optional one: the keeper only saves
    readers time, so a training interpreter without the launcher's dependencies
    (platformdirs, or an older frcnn-tui installed there) trains exactly the same without it.
    """
    if runner.rank != 0:
        return None
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.append(root)  # appended: never shadows what the environment has installed
    try:
        from launcher.monitor.history_keeper import HistoryKeeper

        keeper = HistoryKeeper(runner.work_dir)
        keeper.start()
    except Exception as exc:  # noqa: BLE001 - see above: never a reason to stop training
        print(f"frcnn-tui: not keeping the parsed history for readers ({type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    return keeper


FAULT_ENV = "FRCNN_TUI_TEST_RAISE_AT"  # test-only: "RANK:ITER" raises on that rank at that iteration


def inject_test_fault(runner) -> None:
    """Test-only fault injection: with FRCNN_TUI_TEST_RAISE_AT=RANK:ITER, rank RANK raises before
    training iteration ITER (1-based), so the tests can watch a rank fail with a traceback."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    rank, at = (int(part) for part in spec.split(":"))
    from mmengine.hooks import Hook

    class RaiseAt(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
            if runner.rank == rank and runner.iter + 1 >= at:
                raise RuntimeError(f"injected test fault ({FAULT_ENV}) on rank {rank} at iteration {runner.iter + 1}")

    runner.register_hook(RaiseAt(), priority="LOWEST")


SAMPLES_ENV = "FRCNN_TUI_TEST_RECORD_SAMPLES"  # test-only: each rank's image ids per iteration


def record_test_samples(runner) -> None:
    """Test-only: with FRCNN_TUI_TEST_RECORD_SAMPLES=1, every rank appends the image ids of each
    training batch to <work dir>/samples/rank<N>.jsonl, so a test can compare the samples of an
    interrupted and resumed run with an uninterrupted one."""
    if not os.environ.get(SAMPLES_ENV):
        return
    import json

    from mmengine.hooks import Hook

    folder = Path(runner.work_dir) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rank{runner.rank}.jsonl"

    class RecordSamples(Hook):
        def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
            ids = [sample.metainfo.get("img_id") for sample in data_batch["data_samples"]]
            with open(path, "a") as out:
                out.write(json.dumps({"iter": runner.iter + 1, "epoch": runner.epoch + 1, "ids": ids}) + "\n")

    runner.register_hook(RecordSamples(), priority="LOWEST")


def recorded(fn):
    """torchrun's @record: an uncaught exception is written to the rank's error file
    (TORCHELASTIC_ERROR_FILE), so torchrun's failure report names this rank with its own
    traceback. Without torch (a plain `python train_entry.py --help`), unchanged."""
    try:
        from torch.distributed.elastic.multiprocessing.errors import record
    except ImportError:
        return fn
    return record(fn)


if __name__ == "__main__":
    sys.exit(recorded(main)())
