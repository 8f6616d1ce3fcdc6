"""Does launching through frcnn-tui cost training anything?

A: `frcnn-tui launch --preset demo-cpu --cpu --nproc 2 ...` (detached `bash launch.sh`
   running torchrun), waited for, then its training throughput.
B: the same resolved config (A's run-dir `config.py`) run by hand:
   `python -m torch.distributed.run --nproc-per-node=2 launcher/stack/train_entry.py config.py
   --launcher pytorch --work-dir X`, with the environment launch.sh exports
   (OMP_NUM_THREADS, CUDA_VISIBLE_DEVICES, ...).

Throughput is iterations per second after the first `--skip` logged iterations, from
MMEngine's own `time` field in `<run>/<timestamp>/vis_data/scalars.json` (logger interval
1, log window 1, validation off: both runs get exactly the same config). Runs alternate
A B A B ...; the figure is the median of the per-pair ratios A/B, with min and max.
Goal: >= 0.99.

On a machine where the training interpreter sees CUDA (asked in a subprocess, frcnn-tui
never imports torch) the same command measures the GPU case: A launches with `--gpus N`
and B is mmdet's own `tools/train.py` (mmdet/.mim/tools/train.py) under torchrun with
`--launcher pytorch`. `--device cpu|gpu` forces one.

`--preset r50-fpn-1x --data-root DIR --cfg-options model.backbone.init_cfg=None` times the real
recipe on a COCO-format set (scripts/gpu_check.sh does, on bench/coco_like_data.py's set);
`--first-job-hook CMD` runs `CMD JOB_ID` while the first launched job trains (the GPU check
captures the Monitor with it).

  .venv/bin/python bench/bench_launch_overhead.py [--quick] [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (ROOT, BenchHome, add_training_run_args, explain, fmt_summary, free_port, launch_job,  # noqa: E402
                     loadavg, make_dataset, pick_device, run_figure, stop_job, summary, throughput, wait_job)

GOAL = 0.99


def mmdet_train_py(python: str) -> str:
    code = "import os, mmdet; print(os.path.join(os.path.dirname(mmdet.__file__), '.mim', 'tools', 'train.py'))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    path = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    if not path or not Path(path).is_file():
        raise RuntimeError(f"mmdet's tools/train.py not found ({path or out.stderr.strip()[-300:]})")
    return path


def run_by_hand(*, python: str, entry: str, config: Path, work_dir: Path, nproc: int, job_env: dict[str, str],
                base_env: dict[str, str], timeout: float) -> None:
    """torchrun on the resolved config, as a user would type it (output to files)."""
    work_dir.mkdir(parents=True)
    cmd = [python, "-m", "torch.distributed.run", "--nnodes=1", f"--nproc-per-node={nproc}",
           "--master-addr=127.0.0.1", f"--master-port={free_port()}", entry, str(config),
           "--launcher", "pytorch", "--work-dir", str(work_dir)]
    env = dict(base_env, **job_env)
    with open(work_dir / "stdout.log", "wb") as out, open(work_dir / "stderr.log", "wb") as err:
        proc = subprocess.Popen(cmd, cwd=work_dir, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True)  # only so a timeout can kill every rank
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimeoutError(f"manual run still going after {timeout:.0f} s ({work_dir})") from None
    if rc != 0:
        raise RuntimeError(f"manual torchrun run failed (exit {rc}): {explain(work_dir)}")


def drop_checkpoints(work_dir: Path) -> None:
    for ckpt in Path(work_dir).glob("*.pth"):
        ckpt.unlink(missing_ok=True)


def measure(args: argparse.Namespace) -> dict:
    device = pick_device(args.device, args.gpus, args.nproc)
    gpu = device["kind"] == "gpu"
    sizes = dict(train=args.train or (16 if args.quick else (512 * device["count"] if gpu else 96)),
                 size=args.size or (256 if gpu else 128), imgs=args.imgs_per_gpu or (4 if gpu else 2))
    skip = args.skip if args.skip is not None else (1 if args.quick else (20 if gpu else 4))
    repeats = args.repeats or (1 if args.quick else 5)
    result: dict = {"figure": "launch_overhead", "goal": f">= {GOAL}", "device": device["kind"],
                    "world_size": device["count"], "repeats": repeats, "skip_iters": skip, "preset": args.preset,
                    "images_per_iter": sizes["imgs"] * device["count"], "cfg_options": args.cfg_options,
                    "log_interval": args.log_interval, "dataset": sizes, "epochs": args.epochs,
                    "loadavg_start": loadavg()}
    with BenchHome("bench_launch_", keep=args.keep) as home:
        data = args.data_root or make_dataset(home.root / "data", train=sizes["train"], val=4, size=sizes["size"])
        config = job_env = python = entry = None
        pairs = []
        for i in range(repeats):
            job = launch_job(home.env, data_root=data, work_dir=home.root / f"launched-{i}", device=device,
                             epochs=args.epochs, imgs_per_gpu=sizes["imgs"], log_interval=args.log_interval,
                             name=f"bench-launch-{i}", preset=args.preset, cfg_options=args.cfg_options)
            hook = subprocess.Popen([*shlex.split(args.first_job_hook), job["id"]], env=home.env,
                                    stdin=subprocess.DEVNULL) if args.first_job_hook and i == 0 else None
            try:
                status = wait_job(job, home.env, args.timeout)
            finally:
                stop_job(job, home.env)
                if hook is not None:
                    try:
                        hook.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        hook.kill()
            run_dir = Path(job["run_dir"])
            if status != "succeeded":
                raise RuntimeError(f"launched job {job['id']} ended {status}: {explain(run_dir)}")
            a = throughput(run_dir, skip, args.log_interval)
            drop_checkpoints(run_dir)
            if config is None:
                config, job_env, python = run_dir / "config.py", job["plan"]["env"], job["command"][0]
                entry = mmdet_train_py(python) if gpu else str(ROOT / "launcher" / "stack" / "train_entry.py")
                result["launch_command"] = job["command"]
                result["launch_env"] = job_env
            manual_dir = home.root / f"manual-{i}"
            run_by_hand(python=python, entry=entry, config=config, work_dir=manual_dir, nproc=device["count"],
                        job_env=job_env, base_env=home.env, timeout=args.timeout)
            b = throughput(manual_dir, skip, args.log_interval)
            drop_checkpoints(manual_dir)
            pairs.append({"launch": a, "manual": b, "ratio": a["its_per_s"] / b["its_per_s"],
                          "loadavg": loadavg()})
            if not args.json:
                print(f"pair {i + 1}/{repeats}: launch {a['its_per_s']:.4f} it/s, by hand {b['its_per_s']:.4f} "
                      f"it/s, ratio {pairs[-1]['ratio']:.3f}", file=sys.stderr)
        result["baseline"] = ("mmdet tools/train.py" if gpu else "launcher/stack/train_entry.py") + \
            f" under torchrun --nproc-per-node={device['count']} --launcher pytorch, same config.py and env"
        result["baseline_entry"] = entry
    result["ratio"] = summary(p["ratio"] for p in pairs)
    result["launch_its_per_s"] = summary(p["launch"]["its_per_s"] for p in pairs)
    result["manual_its_per_s"] = summary(p["manual"]["its_per_s"] for p in pairs)
    per_iter = result["images_per_iter"]
    result["launch_imgs_per_s"] = summary(p["launch"]["its_per_s"] * per_iter for p in pairs)
    result["manual_imgs_per_s"] = summary(p["manual"]["its_per_s"] * per_iter for p in pairs)
    result["measured_iters_per_run"] = pairs[0]["launch"]["iters"]
    result["pairs"] = pairs
    result["met"] = result["ratio"]["median"] >= GOAL
    result["loadavg_end"] = loadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_run_args(parser, epochs=1)
    parser.add_argument("--preset", default="demo-cpu", help="the recipe to run (default demo-cpu)")
    parser.add_argument("--data-root", type=Path, help="an existing COCO-format set instead of generated shapes")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="K=V",
                        help="more overrides for every run (model.backbone.init_cfg=None where nothing downloads)")
    parser.add_argument("--first-job-hook", help="a command run with the first launched job's id while it trains")
    return run_figure("launch_overhead", measure, parser.parse_args(argv), lambda r: [
        f"launch overhead ({r['device']} x {r['world_size']}, {r['repeats']} pair(s), "
        f"{r['measured_iters_per_run']} iterations measured per run)",
        f"  frcnn-tui launch: {fmt_summary(r['launch_its_per_s'], '.4f')} it/s",
        f"  by hand:          {fmt_summary(r['manual_its_per_s'], '.4f')} it/s",
        f"  images/s:         launch {fmt_summary(r['launch_imgs_per_s'], '.2f')}, "
        f"by hand {fmt_summary(r['manual_imgs_per_s'], '.2f')} ({r['images_per_iter']} per iteration)",
        f"  ratio:            {fmt_summary(r['ratio'])}  goal {r['goal']}: {'met' if r['met'] else 'MISSED'}",
    ])


if __name__ == "__main__":
    sys.exit(main())
