"""``python -m launcher.sentinel RUN_DIR --job ID [--parent PID]``: what launch.sh and the SLURM
batch script start beside the training (see watcher.py). Its output goes to the run dir's
sentinel.log; it never prints a notification URL, only the redacted form."""

from __future__ import annotations

import argparse
import sys

from launcher.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.sentinel")
    parser.add_argument("run_dir")
    parser.add_argument("--job", required=True)
    parser.add_argument("--parent", type=int, help="the launch script's pid: the job ended when it is gone")
    args = parser.parse_args(argv)
    from launcher.sentinel import notify
    from launcher.sentinel.watcher import Sentinel, install_signals

    try:
        targets = notify.targets_for_run(args.run_dir)
        problem = None
    except UserError as exc:  # a broken config.toml: follow and record anyway, notify nobody
        targets, problem = [], str(exc)
    sentinel = Sentinel(args.run_dir, args.job, parent_pid=args.parent, targets=targets)
    install_signals(sentinel)
    print(f"sentinel for job {args.job}: notifying " + (", ".join(t.name for t in targets) or "nobody"), flush=True)
    if problem:
        sentinel.raise_event("notify-failed", f"no notification will be sent: {problem}", send=False)
    return sentinel.run()


if __name__ == "__main__":
    sys.exit(main())
