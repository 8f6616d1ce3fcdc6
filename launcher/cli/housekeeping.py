"""Keeping a long job list usable: `rm JOB… [--keep-files]`, and the filters of `jobs`
(--running, --failed, --preset, --since, --limit).

The filters on the registry entry (preset, start) are applied before any job is summarized,
so `jobs --preset X --limit 5` reads five jobs, not all of them; the status filters need each
remaining job's status (kept rows make that cheap: launcher.jobs.summary_index).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from launcher.cli import arg_types
from launcher.cli.common import print_json


def add_job_filters(p: argparse.ArgumentParser) -> None:
    """The `jobs` command's filters (it lives in main.py)."""
    p.add_argument("--running", action="store_true", help="only jobs that run or wait in a queue")
    p.add_argument("--failed", action="store_true", help="only failed jobs (with --running: both)")
    p.add_argument("--preset", help="only jobs of this preset")
    p.add_argument("--since", type=arg_types.age, metavar="AGE", help="only jobs started in the last AGE "
                   "(90s, 30m, 12h, 7d, 2w)")
    p.add_argument("--limit", type=arg_types.count, metavar="N", help="only the N newest jobs (after the filters)")


def filtered(args: argparse.Namespace) -> bool:
    """Whether `jobs` was given a filter."""
    return args.preset is not None or args.since is not None or args.limit is not None or args.running or args.failed


def listed_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The rows `jobs` shows, oldest first, as its filters select them."""
    from launcher.gc_pause import gc_paused

    # Every object made here lives until `jobs` prints and exits (ten thousand kept rows and
    # records): the cyclic GC's passes over them would free nothing, at ~1/3 of the command's time.
    with gc_paused():
        return _listed_rows(args)


def _listed_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from launcher.jobs import registry, status_words
    from launcher.jobs import summary as job_summary

    if not filtered(args):
        return job_summary.summarize_all()  # also drops removed jobs from the kept index
    records = registry.load_all()
    if args.preset is not None:
        records = [r for r in records if r.preset == args.preset]
    if args.since is not None:
        start = time.time() - args.since
        records = [r for r in records if r.started_at >= start]
    wanted = ({*status_words.ACTIVE} if args.running else set()) | ({status_words.FAILED} if args.failed else set())
    if not wanted:
        return job_summary.summarize_all(records[-args.limit:] if args.limit else records)
    rows = [row for row in job_summary.summarize_all(records) if row["status"] in wanted]
    return rows[-args.limit:] if args.limit else rows


def cmd_rm(args: argparse.Namespace) -> int:
    from launcher.errors import CheckFailed
    from launcher.jobs import registry, removal

    records = {}
    for ref in args.jobs:  # every name first: a typo removes nothing
        record = registry.find(ref)
        records[record.id] = record
    removed, refused = [], []
    for record in records.values():
        try:
            removed.append(removal.remove(record, keep_files=args.keep_files))
        except CheckFailed as exc:
            refused.append({"id": record.id, "reason": str(exc)})
    if args.json:
        print_json({"removed": [r.to_dict() for r in removed], "refused": refused})
    else:
        for r in removed:
            print(f"removed job {r.id} ({r.name}); run dir {r.run_dir}: {r.files}")
        for r in refused:
            print(f"frcnn-tui: error: {r['reason']}", file=sys.stderr)
    return 1 if refused else 0


def register(sub: Any) -> None:
    p = sub.add_parser("rm", help="remove finished jobs from the list, with their run dirs")
    p.add_argument("jobs", nargs="+", metavar="JOB", help="job id, name or unique id prefix")
    p.add_argument("--keep-files", action="store_true", help="keep the run dirs (logs, checkpoints)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rm)
