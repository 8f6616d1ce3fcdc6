"""Human-readable CLI output (rich). The --json paths never come through here."""

from __future__ import annotations

import shutil
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

_STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red", "running": "cyan",
                 "succeeded": "green", "failed": "bold red", "stopped": "yellow",
                 "pending": "magenta", "waiting": "cyan"}  # waiting: for the training stack's set-up


def console() -> Console:
    # rich honours NO_COLOR and detects a dumb terminal / pipe by itself. Piped output
    # would default to 80 columns and fold job ids; a pipe has no width to respect.
    width = None if sys.stdout.isatty() else shutil.get_terminal_size((160, 24)).columns
    return Console(highlight=False, soft_wrap=False, width=width)


def _mib(value: int | None) -> str:
    return "?" if value is None else f"{value / 1024:.1f}G"


def _opt(value: Any, suffix: str = "") -> str:
    return "?" if value is None else f"{value}{suffix}"


def print_inventory(inv: Any) -> None:
    out = console()
    if not inv.gpus:
        out.print(f"No GPU: {inv.error or 'none found'}. frcnn-tui will train on CPU with gloo workers.")
        return
    out.print(f"driver {_opt(inv.driver_version)}, CUDA driver {_opt(inv.cuda_driver_version)} ({inv.source})")
    table = Table("#", "name", "bus", "memory used/total", "util", "temp", "processes", "free")
    for g in inv.gpus:
        if g.error:
            table.add_row(str(g.index), "[red]unknown[/]", "", "", "", "", g.error, "no")
            continue
        procs = "?" if g.processes is None else ", ".join(f"{p.pid} ({_opt(p.used_memory_mib, 'M')})"
                                                          for p in g.processes) or "-"
        table.add_row(str(g.index), _opt(g.name), _opt(g.pci_bus_id),
                      f"{_mib(g.memory_used_mib)}/{_mib(g.memory_total_mib)}", _opt(g.utilization_pct, "%"),
                      _opt(g.temperature_c, "C"), procs, "yes" if g.is_free else "no")
    out.print(table)


def print_presets(catalog: Any, disagreements: dict[str, list[str]]) -> None:
    out = console()
    table = Table("name", "lr @ batch", "epochs", "ref AP", "description")
    for name, p in sorted(catalog.presets.items()):
        ref = "-" if p.reference_ap is None else f"{p.reference_ap:.1f}"
        table.add_row(name, f"{p.base_lr:g} @ {p.base_batch_size}", str(p.effective_epochs), ref, p.description)
    out.print(table)
    for name, problems in sorted(disagreements.items()):
        for problem in problems:
            out.print(f"[yellow]warning[/]: {name}: {problem}")
        if not problems:
            out.print(f"{name}: matches its mmdet config")


def print_checklist(checks: list[Any]) -> None:
    out = console()
    for c in checks:
        style = _STATUS_STYLE.get(c.status, "")
        out.print(f"  [{style}]{c.status.upper():4}[/] {c.id:9} {c.detail}")
        if c.hint and c.status != "pass":
            out.print(f"       {'':9} [dim]fix: {c.hint}[/]")


def print_plan(plan: Any, brief: bool = False) -> None:
    out = console()
    p = plan.proposal
    where = f"CPU, {plan.nproc_per_node} gloo workers" if plan.cpu else f"GPUs {','.join(map(str, plan.gpu_ids))}"
    out.print(f"[bold]{plan.preset.name}[/]: {plan.preset.description}")
    out.print(f"  devices   {p.nodes} node(s) × {p.gpus_per_node} ({where}) × {p.imgs_per_gpu} imgs = batch "
              f"{p.total_batch}")
    runs = plan.what_runs  # the resolved config's lr and schedule, --cfg-options included
    if runs.lr_set_by is None:
        out.print(f"  lr        [bold]{runs.lr:g}[/]   ({p.rule} rule: {p.formula})")
    else:
        out.print(f"  lr        [bold]{runs.lr:g}[/]   (set by {runs.lr_set_by}: {runs.lr_ratio:.3g}× the {p.rule} "
                  f"rule's {p.formula})")
    warm = f"{p.warmup_iters} iters" + (" (rescaled)" if p.warmup_rescaled else " (mmdet default, not rescaled)")
    out.print(f"  warmup    {warm}")
    out.print(f"  schedule  {runs.length}, {runs.decay}" + (f" ({runs.preset_schedule})" if runs.schedule_changed
                                                            else ""))
    if plan.preset.dataset == "custom":  # your own data: what the resolved config was given
        print_dataset_settings(out, plan.resolved)
    if plan.preset.reference_ap is not None:
        out.print(f"  reference box AP {plan.preset.reference_ap:.1f}")
    if not brief:
        out.print("checklist:")
    print_checklist(plan.checks if not brief else [c for c in plan.checks if c.status != "pass"])
    if not brief:
        out.print(f"run dir   {plan.run_dir}")
        out.print("command   " + " ".join(plan.command), soft_wrap=True)


def print_dataset_settings(out: Any, resolved: dict[str, Any]) -> None:
    classes = resolved.get("classes") or []
    out.print(f"  dataset   {len(classes)} classes: {escape(', '.join(map(str, classes)))}; box head "
              f"num_classes {resolved.get('num_classes')}; per-class AP "
              f"{'on' if (resolved.get('evaluator') or {}).get('classwise') else 'off'}", soft_wrap=True)
    for split in ("train", "val", "test"):
        files = resolved.get(split) or {}
        out.print(f"            {split:<5} {escape(str(files.get('ann_file')))}  images {escape(str(files.get('img_dir')))}",
                  soft_wrap=True)


def print_jobs(rows: list[dict[str, Any]]) -> None:
    out = console()
    if not rows:
        out.print("No jobs yet. Start one with: frcnn-tui launch --preset NAME (or frcnn-tui demo)")
        return
    table = Table("id", "name", "preset", "status", "devices", "progress", "best mAP", "ref")
    for r in rows:
        style = _STATUS_STYLE.get(r["status"], "")
        best = "-" if r.get("best_map") is None else f"{100 * r['best_map']:.1f} (ep {r.get('best_epoch')})"
        ref = "-" if r.get("reference_ap") is None else f"{r['reference_ap']:.1f}"
        # A SLURM job shows SLURM's own state beside ours: "pending · PENDING (Resources)".
        slurm = f" · {escape(r['slurm_state'])}" if r.get("slurm_state") else ""
        table.add_row(r["id"], r["name"], r["preset"], f"[{style}]{r['status']}[/]{_status_note(r)}{slurm}",
                      r["devices"], r.get("progress") or "-", best, ref)
    out.print(table)
    for r in rows:  # what needs a look, below the table: it does not fit a cell
        for alert in r.get("alerts") or []:
            out.print(f"[bold red]{r['id']}: {alert['kind']}:[/] {escape(alert['message'])}")
        failed = r.get("failed_rank") or {}
        if failed.get("traceback"):
            out.print(escape("\n".join("    " + line for line in failed["traceback"].splitlines()[-8:])))
        if r.get("events"):  # the sentinel's newest event, and where it is sent (redacted)
            last = r["events"][-1]
            out.print(f"[dim]{r['id']}: last event: {escape(last['kind'])}: {escape(last.get('text') or '')}[/]")
        if r.get("notify"):
            out.print(f"[dim]{r['id']}: notifies {escape(', '.join(r['notify']))}[/]")
        if r.get("redone_per_restart"):  # the work each restart lost (0: resumed at the iteration it stopped)
            out.print(f"[dim]{r['id']}: iterations redone per restart: {', '.join(map(str, r['redone_per_restart']))}[/]")


def _status_note(row: dict[str, Any]) -> str:
    from launcher.jobs.summary import status_note

    note = status_note(row)
    if note == "stalled":
        return " [bold red](stalled)[/]"
    return f" ({note})" if note else ""


def print_doctor(lines: list[Any]) -> None:
    out = console()
    for line in lines:
        mark = "[green]OK  [/]" if line.ok else ("[bold red]FAIL[/]" if line.required else "[yellow]NOTE[/]")
        out.print(f"{mark} {line.name:22} {line.detail}")
        if not line.ok and line.hint:
            out.print(f"     {'':22} [dim]fix: {line.hint}[/]")
