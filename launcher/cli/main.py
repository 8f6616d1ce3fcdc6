"""frcnn-tui's command line. Every TUI action has a command here, each with --json.

Bad input ends in one line on stderr and a non-zero exit (2 usage/input, 1 a
failing check or job), never a traceback. Heavy modules are imported inside the
command that needs them, so `frcnn-tui --help` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from launcher import __version__
from launcher.cli import arg_types, data_cli, housekeeping, notify_cli, reproduction, slurm_cli
from launcher.cli.common import add_plan_args, plan_request, print_json
from launcher.errors import UserError, guarded


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage + line)
        self.exit(2, f"frcnn-tui: error: {message} (see {self.prog} --help)\n")


# -- commands --------------------------------------------------------------------

def cmd_gpus(args: argparse.Namespace) -> int:
    from launcher.cli import render
    from launcher.hardware.gpu_probe import probe

    inv = probe()
    if args.json:
        print_json(inv.to_dict())
    else:
        render.print_inventory(inv)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from launcher.cli import render
    from launcher.planning.presets import load_presets

    catalog = load_presets()
    for err in catalog.errors:
        print(f"frcnn-tui: warning: {err}", file=sys.stderr)
    disagreements: dict[str, list[str]] = {}
    if args.check:
        from launcher.planning.preset_check import cross_check

        disagreements = {name: cross_check(p, args.python) for name, p in catalog.presets.items()}
    if args.json:
        print_json({"presets": [dict(p.to_dict(), **({"disagreements": disagreements[n]} if args.check else {}))
                                for n, p in sorted(catalog.presets.items())],
                    "errors": [str(e) for e in catalog.errors]})
    else:
        render.print_presets(catalog, disagreements)
    return 1 if any(disagreements.values()) else 0


def cmd_plan(args: argparse.Namespace) -> int:
    from launcher.cli import render
    from launcher.planning.plan import make_plan

    plan = make_plan(plan_request(args))
    if args.json:
        print_json(plan.to_dict())
    else:
        render.print_plan(plan)
    return 1 if plan.status == "fail" else 0


def cmd_launch(args: argparse.Namespace) -> int:
    from launcher.jobs import backends, job_status
    from launcher.cli import render
    from launcher.references import store as references

    reference = references.load(args.reference) if args.reference else None  # a wrong name fails before launch
    req = plan_request(args)
    target = slurm_cli.target(args)  # None: this host
    backend = backends.backend_for(target)
    record, plan = backend.launch(req, target, force=args.force)
    if reference is not None:
        references.record_for_job(record.run_path, reference.name)
    if args.json:
        print_json(dict(record.to_dict(), status=job_status.status(record),
                        plan=dict(plan.to_dict(), reference=args.reference)))
    else:
        render.print_plan(plan, brief=True)
        print("\n".join(backend.launched(record)))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    rows = housekeeping.listed_rows(args)
    if args.json:
        print_json({"jobs": rows}, long=True)
    elif not rows and housekeeping.filtered(args):  # not "no jobs yet": the filters left none
        print("No job matches these filters (frcnn-tui jobs lists them all).")
    else:
        from launcher.cli import render  # rich's tables: ~70 ms that --json does not need

        render.print_jobs(rows)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from launcher.jobs import backends, checkpoint_stop, job_status, registry

    record = registry.find(args.job)
    backend = backends.backend_for(record)
    if nothing := backend.nothing_to_stop(record):  # not running, not queued: nothing is signalled
        print_json({"id": record.id, "stopped": 0, "status": job_status.status(record)}) if args.json else print(nothing)
        return 0
    # A backend without the choice checkpoints on every stop (SLURM: scancel's SIGTERM is the request).
    found, left = backend.stop(record, grace=args.grace,
                               checkpoint_wait=args.checkpoint_wait if args.checkpoint else None)
    saved = checkpoint_stop.saved(record.run_path) if args.checkpoint and found else None
    if args.json:
        print_json({"id": record.id, "stopped": found, "left": left, "status": job_status.status(record),
                    **({"checkpoint": saved} if args.checkpoint else {})})
    else:
        print(f"stopped job {record.id}: {backend.stopped_words(record, found)}, {left} left")
        _print_checkpointed(record, args, saved)
    return 0 if not left else 1


def _print_checkpointed(record: Any, args: argparse.Namespace, saved: dict | None) -> None:
    """After `stop --checkpoint`: where resume continues, or that no checkpoint was written in time."""
    if args.checkpoint:
        print(f"checkpointed at iteration {saved['iter']} (epoch {saved['epoch']}, batch {saved['batches_done']}):"
              f" `frcnn-tui resume {record.id}` continues from there" if saved else
              f"no checkpoint on request was written in {args.checkpoint_wait:g} s; stopped with signals")


def cmd_resume(args: argparse.Namespace) -> int:
    from launcher.jobs import backends, job_status, registry

    record = backends.resume(registry.find(args.job), nproc=args.nproc)
    if args.json:
        print_json(dict(record.to_dict(), status=job_status.status(record)))
    else:
        where = backends.where(record)
        print(f"resumed job {record.id} from {record.run_dir}/last_checkpoint, {where}")
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from launcher.jobs import summary as job_summary
    from launcher.jobs import registry

    record = registry.find(args.job)
    return job_summary.print_logs(record, follow=args.follow, stream="stderr" if args.stderr else "stdout",
                                  as_json=args.json)


def cmd_watch(args: argparse.Namespace) -> int:
    from pathlib import Path

    from launcher import paths
    from launcher.jobs import job_status, registry
    from launcher.cli.watch_view import run_watch
    from launcher.monitor.reference_compare import preset_target, tracker_for

    if bool(args.job) == bool(args.work_dir):
        raise UserError("watch takes a JOB or --work-dir DIR (one of them)")
    if args.work_dir:
        work_dir = Path(args.work_dir).expanduser()
        if not paths.exists(work_dir) or not work_dir.is_dir():  # exists(): a name too long is one line
            raise UserError(f"no such work dir: {work_dir}")
        return run_watch(work_dir, once=args.once, as_json=args.json, interval=args.interval,
                         reference=tracker_for(work_dir.absolute(), args.reference, None))
    record = registry.find(args.job)
    return run_watch(record.run_path, once=args.once, as_json=args.json, reference_ap=record.reference_ap,
                     max_epochs=record.max_epochs, gpu_indices=None if record.cpu else record.gpu_ids,
                     job_status=lambda: job_status.status(record), interval=args.interval,
                     reference=tracker_for(record.run_path, args.reference, record.preset),
                     target=preset_target(record.preset, record.reference_ap))


def cmd_doctor(args: argparse.Namespace) -> int:
    from launcher.stack import doctor
    from launcher.cli import render

    lines, report = doctor.run_doctor(args.python)
    if args.json:
        print_json(doctor.to_json(lines, report))
    else:
        render.print_doctor(lines)
    return 0 if doctor.can_train(lines) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from launcher.cli import demo

    return demo.run_demo(as_json=args.json, nproc=args.nproc, epochs=args.epochs, python=args.python)


def _no_tui(args: argparse.Namespace) -> int:
    # The core never imports the UI: the program entry (tui/entry.py) passes the TUI in.
    raise UserError("no command given and no TUI here (run `frcnn-tui`, or see frcnn-tui --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="frcnn-tui", description="Launch and watch distributed Faster R-CNN training "
                     "(MMDetection) with the lr scaled right. Without a command, opens the TUI.")
    parser.add_argument("--version", action="version", version=f"frcnn-tui {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("gpus", help="list GPUs (NVML)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_gpus)

    p = sub.add_parser("presets", help="list presets")
    p.add_argument("--check", action="store_true", help="cross-check each preset against its real mmdet config")
    p.add_argument("--python", help="training interpreter for --check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("plan", help="propose the lr and run the reproduction checklist")
    add_plan_args(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("launch", help="start a detached training job")
    add_plan_args(p)
    p.add_argument("--name", type=arg_types.job_name, help="job name (default: the preset's)")
    p.add_argument("--work-dir", help="run directory (default: under the state dir)")
    p.add_argument("--reference", help="reference run to compare with (default: the preset's; frcnn-tui reference list)")
    p.add_argument("--force", action="store_true", help="launch even if a check fails or the GPUs are busy")
    notify_cli.add_notify_arg(p)  # --notify URL (repeatable)
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser("jobs", help="list jobs")
    p.add_argument("--json", action="store_true")
    housekeeping.add_job_filters(p)  # --running, --failed, --preset, --since, --limit
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("watch", help="live loss / lr / mAP of a job or a work dir")
    p.add_argument("job", nargs="?")
    p.add_argument("--work-dir", help="an MMEngine work dir (also runs not started by frcnn-tui)")
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    p.add_argument("--interval", type=arg_types.positive_float, default=1.0, help="seconds between polls")
    p.add_argument("--reference", help="compare with this reference run (default: the job's, else its preset's)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("stop", help="stop a job (SIGTERM each of its processes, SIGKILL after --grace)")
    p.add_argument("job")
    p.add_argument("--grace", type=arg_types.non_negative_float, default=30.0)
    p.add_argument("--checkpoint", action="store_true",
                   help="checkpoint at the next iteration first, then exit; resume continues at that iteration")
    p.add_argument("--checkpoint-wait", type=arg_types.non_negative_float, default=600.0, metavar="SECONDS",
                   help="how long --checkpoint waits for the save before the signals (default 600)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("resume", help="resume a stopped or failed job from its last checkpoint")
    p.add_argument("job")
    p.add_argument("--nproc", type=arg_types.count, help="new processes per node (the lr still comes from the checkpoint)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("logs", help="print a job's launcher output")
    p.add_argument("job")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--stderr", action="store_true", help="stderr instead of stdout")
    p.add_argument("--json", action="store_true", help="one JSON object per line: {job, stream, line}")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("doctor", help="check that Faster R-CNN can train here")
    p.add_argument("--python", help="training interpreter to check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("demo", help="the whole flow on CPU: synthetic data, plan, launch, watch, summary")
    p.add_argument("--nproc", type=arg_types.count, default=None, help="gloo workers (default: the preset's, 2)")
    p.add_argument("--epochs", type=arg_types.count, default=None, help="shorter run (the checklist then warns)")
    p.add_argument("--python")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    slurm_cli.register(sub)  # launch --slurm ..., slurm (write the batch script)
    reproduction.register(sub)  # reference add|list|show|rm, report, compare
    housekeeping.register(sub)  # rm
    data_cli.register(sub)  # data check
    notify_cli.register(sub)  # notify test [URL]
    return parser


def main(argv: list[str] | None = None, *, open_tui: Callable[[], int] | None = None) -> int:
    """Run one command; with none, OPEN_TUI (given by the program entry, which may see both packages)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    default = (lambda _args: open_tui()) if open_tui is not None else _no_tui
    func: Callable[[argparse.Namespace], int] = getattr(args, "func", default)
    return guarded(lambda: func(args))


if __name__ == "__main__":
    sys.exit(main())
