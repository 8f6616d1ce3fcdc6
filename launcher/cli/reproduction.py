"""Reproduction tracking commands: ``reference add|list|show|rm``, ``report``, ``compare``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from launcher.cli.common import print_json
from launcher.errors import UserError


def _catalog():
    from launcher.planning.presets import load_presets

    return load_presets()


def _log_url(preset_name: str | None, catalog=None) -> str | None:
    if not preset_name:
        return None
    preset = (catalog or _catalog()).presets.get(preset_name)
    return getattr(preset, "reference_log_url", None) if preset else None


def _summary(ref, catalog=None) -> dict[str, Any]:
    final = ref.final or {}
    return {"name": ref.name, "preset": ref.preset, "format": ref.format, "source": ref.source,
            "epochs": len(ref.map_by_epoch), "final_epoch": final.get("epoch"), "final_bbox_mAP": final.get("bbox_mAP"),
            "lr": ref.train.get("lr"), "total_batch": ref.train.get("total_batch"),
            "reference_log_url": _log_url(ref.preset, catalog)}


# -- reference -------------------------------------------------------------------

def cmd_reference_add(args: argparse.Namespace) -> int:
    from launcher.references import store
    from launcher.references.sources import read_source

    store.validate_name(args.name)
    if store.exists(args.name) and not args.force:
        raise UserError(f"reference '{args.name}' exists (frcnn-tui reference rm {args.name}, or --force)")
    catalog = _catalog()
    if args.preset:
        catalog.get(args.preset)  # an unknown preset is one line, before any parsing
    ref = read_source(args.source, args.name)
    ref.preset = args.preset or ref.preset
    path = store.save(ref)
    if args.json:
        print_json(dict(ref.to_dict(), path=str(path)))
        return 0
    s = _summary(ref, catalog)
    print(f"added reference {ref.name} ({ref.format}) from {ref.source}: {s['epochs']} evaluated epoch(s), final "
          f"bbox mAP {s['final_bbox_mAP']} at epoch {s['final_epoch']}, lr {s['lr']}, total batch {s['total_batch']}"
          + (f", preset {ref.preset}" if ref.preset else " (no preset: --preset P makes it that preset's default)"))
    for note in ref.notes:
        print(f"  note: {note}")
    return 0


def cmd_reference_list(args: argparse.Namespace) -> int:
    from launcher.cli import render
    from launcher.references import store
    from rich.table import Table

    catalog = _catalog()
    refs = [_summary(r, catalog) for r in store.load_all()]
    covered = {r["preset"] for r in refs}
    missing = [{"preset": name, "reference_log_url": p.reference_log_url}
               for name, p in sorted(catalog.presets.items())
               if name not in covered and getattr(p, "reference_log_url", None)]
    if args.json:
        print_json({"references": refs, "presets_without_reference": missing})
        return 0
    out = render.console()
    if refs:
        table = Table("name", "preset", "format", "epochs", "final mAP", "lr", "batch", "source")
        for r in refs:
            table.add_row(r["name"], r["preset"] or "-", r["format"], str(r["epochs"]),
                          "-" if r["final_bbox_mAP"] is None else f"{r['final_bbox_mAP']:.3f}",
                          "-" if r["lr"] is None else f"{r['lr']:g}", str(r["total_batch"] or "-"), r["source"])
        out.print(table)
    else:
        out.print("No reference yet: frcnn-tui reference add NAME SOURCE [--preset P]")
    for m in missing:
        out.print(f"{m['preset']}: no reference; its official log is {m['reference_log_url']} "
                  f"(download it, then frcnn-tui reference add NAME FILE --preset {m['preset']})")
    return 0


def cmd_reference_show(args: argparse.Namespace) -> int:
    from launcher.references import behind_reference, store

    ref = store.load(args.name)
    noise, how = behind_reference.noise_threshold(ref, store.load_all())
    data = dict(ref.to_dict(), noise=noise, noise_source=how, reference_log_url=_log_url(ref.preset))
    if args.json:
        print_json(data)
        return 0
    print(f"{ref.name}: {ref.format} from {ref.source}" + (f", preset {ref.preset}" if ref.preset else ""))
    print("  env:   " + ", ".join(f"{k} {v}" for k, v in ref.env.items() if v is not None))
    print("  train: " + ", ".join(f"{k} {v}" for k, v in ref.train.items() if v is not None))
    print(f"  noise threshold {noise} mAP: {how}")
    if data["reference_log_url"]:
        print(f"  official log: {data['reference_log_url']}")
    for row in ref.map_by_epoch:
        print(f"  epoch {row['epoch']:>3}  bbox mAP {row.get('bbox_mAP')}")
    print(f"  loss curve: {len(ref.loss_curve)} point(s) by fraction of the schedule")
    return 0


def cmd_reference_rm(args: argparse.Namespace) -> int:
    from launcher.references import store

    path = store.remove(args.name)
    if args.json:
        print_json({"removed": args.name, "path": str(path)})
    else:
        print(f"removed reference {args.name}")
    return 0


# -- report and compare ----------------------------------------------------------

def cmd_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from launcher.jobs import registry
    from launcher.references.report import write_report

    record = registry.find(args.job)
    result = write_report(record, args.reference, Path(args.output) if args.output else None)
    if args.json:
        print_json(result)
        return 0
    state = " (job still running: partial report)" if result["running"] else ""
    print(f"wrote {result['report']}{state}")
    for name, path in sorted(result["charts"].items()):
        print(f"  chart {name}: {path}")
    if result["chart_error"]:
        print(f"  charts not drawn: {result['chart_error']}", file=sys.stderr)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from launcher.cli import render
    from launcher.jobs import registry
    from launcher.jobs.side_by_side import against_text, ap_cell, compare_runs, map_at
    from rich.table import Table

    if len(args.jobs) < 2:
        raise UserError("compare takes two or more jobs")
    result = compare_runs([registry.find(j) for j in args.jobs])
    if args.json:
        print_json(result)
        return 0
    runs = result["runs"]
    # Each run by its name and id (the id is what other commands take), in the order asked for.
    table = Table("", *[f"{r['name']}\n{r['id']}\n{r['devices']}" for r in runs])
    for epoch in result["epochs"]:
        table.add_row(f"epoch {epoch}", *[_ap(map_at(r, epoch)) for r in runs])
    table.add_row("mAP", *[ap_cell(r) for r in runs], style="bold")
    table.add_row("vs reference", *[against_text(r.get("against")) for r in runs])
    table.add_row("status", *[r.get("status") or "-" for r in runs])
    table.add_row("lr", *["-" if r.get("lr") is None else f"{r['lr']:g}" for r in runs])
    table.add_row("total batch", *[str(r.get("total_batch") or "-") for r in runs])
    table.add_row("lr / image", *["-" if not r.get("lr_per_image") else f"{r['lr_per_image']:.3g}" for r in runs])
    render.console().print(table)
    for r in runs:
        if r.get("error"):
            print(f"{r['id']}: {r['error']}", file=sys.stderr)
    return 0


def _ap(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reference", help="reference runs a job is compared with (add, list, show, rm)")
    refs = p.add_subparsers(dest="reference_command", required=True, parser_class=type(p))
    q = refs.add_parser("add", help="read a reference from a job, a work dir or a 2.x/3.x log")
    q.add_argument("name")
    q.add_argument("source", help="job id/name, MMEngine work dir, *.log.json or *.log")
    q.add_argument("--preset", help="the preset it is the reference of (its jobs default to it)")
    q.add_argument("--force", action="store_true", help="replace a reference of that name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_reference_add)
    q = refs.add_parser("list", help="stored references")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_reference_list)
    q = refs.add_parser("show", help="one reference: env, recipe, mAP per epoch, noise threshold")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_reference_show)
    q = refs.add_parser("rm", help="forget a reference")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_reference_rm)

    p = sub.add_parser("report", help="write a reproduction report (report.md + PNG charts) for a job")
    p.add_argument("job")
    p.add_argument("--reference", help="reference name (default: the job's, else its preset's)")
    p.add_argument("-o", "--output", help="folder (default: <run dir>/report)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="runs side by side: mAP per epoch, final AP, lr, total batch")
    p.add_argument("jobs", nargs="+", metavar="JOB")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)
