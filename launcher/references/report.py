"""The reproduction report of a job: report.md plus PNG charts, self-contained in one folder.

What it holds: the final AP against the reference (and the noise threshold), mAP per
epoch, loss and mAP charts against the reference (drawn by launcher/stack/report_charts.py
in the training interpreter), the plan (lr formula, total batch), the checklist as it
was at launch (plan.json), the environment against the reference, wall time, throughput
and device-hours. A running job's report says so and covers what is on disk.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from launcher import paths
from launcher.jobs import job_status, status_words
from launcher.jobs.registry import JobRecord
from launcher.monitor import per_class
from launcher.references.mmengine_workdir import parse_job_dir, what_ran
from launcher.monitor.values import finite
from launcher.references.model import MAP_KEYS, Reference
from launcher import run_files

_LABELS = {"bbox_mAP": "mAP", "bbox_mAP_50": "AP50", "bbox_mAP_75": "AP75", "bbox_mAP_s": "APs",
           "bbox_mAP_m": "APm", "bbox_mAP_l": "APl"}
_ENV_ROWS = (("torch", "PyTorch"), ("cuda", "CUDA"), ("opencv", "OpenCV"), ("mmcv", "MMCV"), ("mmdet", "MMDetection"),
             ("mmengine", "MMEngine"), ("gpus", "GPUs"), ("gpu_name", "GPU model"))
_TRAIN_ROWS = (("lr", "lr"), ("imgs_per_gpu", "images per GPU"), ("world_size", "world size"),
               ("total_batch", "total batch"), ("max_epochs", "epochs"), ("milestones", "milestones"), ("seed", "seed"))


def _ap(v: Any) -> str:
    return f"{100 * v:.1f}" if finite(v) else "–"


def _cell(v: Any) -> str:
    return "–" if v is None else str(v).replace("|", "/")


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _mids(buckets: list[list]) -> list[list[float]]:
    return [[s, (lo + hi) / 2] for s, lo, hi in buckets if finite(lo) and finite(hi)]


def _result_table(snap: dict, ref: Reference | None) -> list[str]:
    maps = [m for m in snap.get("map_by_epoch") or [] if finite(m.get("bbox_mAP"))]
    head = "| | epoch | " + " | ".join(_LABELS[k] for k in MAP_KEYS) + " |"
    lines = [head, "|" + "---|" * (len(MAP_KEYS) + 2)]
    if not maps:
        return ["No evaluation yet."]
    last = maps[-1]
    lines.append(f"| this run | {last['epoch']} | " + " | ".join(_ap(last.get(k)) for k in MAP_KEYS) + " |")
    if ref is not None:
        at = next((r for r in ref.map_by_epoch if r["epoch"] == last["epoch"]), None)
        if at:
            lines.append(f"| {ref.name} | {last['epoch']} | " + " | ".join(_ap(at.get(k)) for k in MAP_KEYS) + " |")
            diffs = [(last.get(k) - at.get(k)) if finite(last.get(k)) and finite(at.get(k)) else None
                     for k in MAP_KEYS]
            lines.append(f"| difference | | " + " | ".join(f"{100 * d:+.1f}" if d is not None else "–"
                                                         for d in diffs) + " |")
        final = ref.final
        if final and (at is None or final["epoch"] != last["epoch"]):
            lines.append(f"| {ref.name} (final) | {final['epoch']} | "
                         + " | ".join(_ap(final.get(k)) for k in MAP_KEYS) + " |")
    return lines


def _epochs_table(snap: dict, ref: Reference | None) -> list[str]:
    run = {m["epoch"]: m.get("bbox_mAP") for m in snap.get("map_by_epoch") or []}
    theirs = {r["epoch"]: r.get("bbox_mAP") for r in ref.map_by_epoch} if ref else {}
    epochs = sorted(set(run) | set(theirs))
    if not epochs:
        return []
    lines = ["| epoch | this run | reference | difference |", "|---|---|---|---|"]
    for e in epochs:
        a, b = run.get(e), theirs.get(e)
        d = f"{100 * (a - b):+.1f}" if finite(a) and finite(b) else "–"
        lines.append(f"| {e} | {_ap(a)} | {_ap(b)} | {d} |")
    return lines


def _per_class_table(snap: dict) -> list[str]:
    """Per-class AP at the latest evaluation, weakest first (CocoMetric classwise=True; none without it)."""
    moved = per_class.moves(snap.get("map_by_epoch") or [])
    if moved is None:
        return []
    since = f"since epoch {moved['previous_epoch']}" if moved["previous_epoch"] is not None else "since the last"
    lines = ["## Per-class AP", "", f"At epoch {moved['epoch']}, weakest first (AP at IoU 0.50:0.95; – : no val boxes).",
             "", f"| class | AP | change {since} |", "|---|---|---|"]
    for row in moved["classes"]:
        change = f"{100 * row['change']:+.1f}" if row["change"] is not None else "–"
        lines.append(f"| {_cell(row['name'])} | {_ap(row['ap'])} | {change} |")
    return lines + [""]


def _env_table(run: Reference, ref: Reference | None) -> list[str]:
    lines = ["| | this run | reference | |", "|---|---|---|---|"]
    for group, rows in ((run.env, _ENV_ROWS), (run.train, _TRAIN_ROWS)):
        for key, label in rows:
            mine = group.get(key)
            theirs = (ref.env if group is run.env else ref.train).get(key) if ref else None
            differs = ref is not None and mine is not None and theirs is not None and str(mine) != str(theirs)
            lines.append(f"| {label} | {_cell(mine)} | {_cell(theirs)} | {'differs' if differs else ''} |")
    mine, theirs = run.lr_per_image, ref.lr_per_image if ref else None
    differs = bool(mine and theirs and abs(mine / theirs - 1) > 0.01)
    lines.append(f"| lr per image | {_cell(mine and f'{mine:.3g}')} | {_cell(theirs and f'{theirs:.3g}')} | "
                 f"{'differs' if differs else ''} |")
    return lines


def _cost(snap: dict, run: Reference, record: JobRecord, plan: dict) -> list[str]:
    wall = run.wall_time_s
    prog = snap.get("progress") or {}
    images = (prog.get("global_iter") or 0) * (run.train.get("total_batch") or 0)
    devices = plan.get("world_size") or run.train.get("world_size") or 1
    unit = "CPU worker-hours" if record.cpu else "GPU-hours"
    lines = [f"- wall time: {_hms(wall)} (first to last line of the training logs, every start and resume)"]
    if wall and images:
        lines.append(f"- throughput: {images / wall:.2f} images/s ({images} images in {prog.get('global_iter')} "
                     f"iterations of batch {run.train.get('total_batch')}, evaluation time included)")
    if wall:
        lines.append(f"- device-hours: {wall * devices / 3600:.3f} {unit} ({devices} × {_hms(wall)})")
    from launcher.jobs import checkpoint_stop

    for n, row in enumerate(checkpoint_stop.restarts(record.run_path), 1):  # the work each restart lost
        lines.append(f"- restart {n}: resumed at iteration {row['resumed_at']} after {row['trained_before']} "
                     f"trained: {row['redone']} iterations redone")
    return lines


def _official_log(preset: str) -> str | None:
    from launcher.planning.presets import load_presets

    found = load_presets().presets.get(preset)
    return getattr(found, "reference_log_url", None) if found else None


def _plan_lines(plan: dict) -> list[str]:
    """The plan's lr, batch and schedule, then the checklist as it stood at launch. The
    schedule and seed are the resolved config's (what ran: --cfg-options and the config's own
    randomness.seed included), the preset's beside them when they differ."""
    if not plan:
        return ["No plan.json in the run dir (not launched by frcnn-tui).", ""]
    rule = f"{plan.get('formula')} ({plan.get('rule')} rule)"
    ran = what_ran(plan)
    line = (f"- warmup {ran['warmup_iters']} iterations, {ran['max_epochs']} epochs, milestones {ran['milestones']}, "
            f"seed {'none (random)' if ran['seed'] is None else ran['seed']}")
    preset = (plan.get("epochs"), plan.get("milestones"))
    if (ran["max_epochs"], ran["milestones"]) != preset:
        line += f" (the preset says {preset[0]} epochs, milestones {preset[1]})"
    out = [f"- lr **{plan.get('lr')}**, set by hand: {plan.get('lr') / plan['rule_lr']:.3g}× the rule's {rule}"
           if plan.get("lr_override") and plan.get("rule_lr") else f"- lr **{plan.get('lr')}** = {rule}",
           f"- total batch **{plan.get('total_batch')}** = {plan.get('nodes')} node(s) × "
           f"{plan.get('gpus_per_node')} {'CPU workers' if plan.get('cpu') else 'GPUs'} × "
           f"{plan.get('imgs_per_gpu')} images", line, ""]
    out += ["## Checklist at launch", "", "| check | status | detail |", "|---|---|---|"]
    out += [f"| {c.get('id')} | {c.get('status')} | {_cell(c.get('detail'))} |" for c in plan.get("checklist") or []]
    return out + [""]


def build_markdown(record: JobRecord, snap: dict, run: Reference, ref: Reference | None, plan: dict,
                   status: str, charts: dict[str, str], chart_error: str | None) -> str:
    out = [f"# Reproduction report: job {record.id} ({record.name})", "",
           f"Preset **{record.preset}** · status **{status}** · written {time.strftime('%Y-%m-%d %H:%M')} "
           f"· run dir `{record.run_dir}`", ""]
    prog = snap.get("progress") or {}
    if status in ("running", "starting"):
        out += [f"> **This job is still running**: this report covers what is on disk, epoch {prog.get('epoch')} "
                f"of {prog.get('max_epochs')} ({100 * (prog.get('fraction') or 0):.0f}% of the schedule).", ""]
    rc = snap.get("reference") or {}
    out += ["## Result against the reference", ""]
    if ref is None:
        out += ["No reference run (frcnn-tui reference add NAME SOURCE --preset "
                f"{record.preset}); preset reference AP: {record.reference_ap}."]
        url = _official_log(record.preset)
        out += [f"The preset's official training log: {url}" if url else "", ""]
    else:
        out += [f"Reference **{ref.name}** ({ref.format}, {ref.source}).", ""]
    out += _result_table(snap, ref) + [""]
    if rc:
        verdict = ("behind by more than the noise" if rc.get("behind") else "within the noise or ahead") \
            if rc.get("delta") is not None else "no reference value at this epoch"
        out += [f"Noise threshold {rc.get('noise')} mAP ({rc.get('noise_source')}): {verdict}.", ""]
    for alert in snap.get("alerts") or []:
        out += [f"- **{alert.get('kind')}**: {alert.get('message')}"]
    out += ["", "## mAP per epoch", ""] + _epochs_table(snap, ref) + [""]
    for key, title in (("map", "mAP per epoch against the reference"), ("loss", "training loss against the reference")):
        if key in charts:
            out += [f"![{title}]({Path(charts[key]).name})", ""]
    if chart_error:
        out += [f"(charts not drawn: {chart_error})", ""]
    out += _per_class_table(snap)
    out += ["## Plan", ""] + _plan_lines(plan)
    out += ["## Environment and recipe against the reference", ""] + _env_table(run, ref) + [""]
    out += ["## Cost", ""] + _cost(snap, run, record, plan) + [""]
    return "\n".join(out)


def write_report(record: JobRecord, reference: str | None = None, out_dir: Path | None = None) -> dict[str, Any]:
    from launcher.monitor.reference_compare import tracker_for
    from launcher.monitor.run_follower import RunFollower
    from launcher.stack import training_env

    out_dir = paths.output_dir(Path(out_dir or record.run_path / "report").expanduser().absolute(), "the report")
    status = job_status.status(record)
    tracker = tracker_for(record.run_path, reference, record.preset)  # an unknown REFERENCE is the user's error
    snap = RunFollower.for_job(record, series=True, poll_bytes=None, compare=True, reference=tracker,
                               target=None).read_once(status)
    run = parse_job_dir(record.run_path, record.name, preset=record.preset)
    plan = run_files.read_plan(record.run_path)
    rc = snap.get("reference") or {}
    data = {"title": f"{record.name} ({record.preset})", "run_label": f"this run ({record.id})",
            "ref_label": tracker.ref.name if tracker else None,
            "loss": _mids((snap.get("series") or {}).get("loss") or []), "ref_loss": rc.get("loss_curve") or [],
            "map": [[m["epoch"], m.get("bbox_mAP")] for m in snap.get("map_by_epoch") or []],
            "ref_map": rc.get("map_by_epoch") or [], "noise": rc.get("noise")}
    data_file = out_dir / "chart_data.json"
    data_file.write_text(json.dumps(data))
    drawn = training_env.run_script(record.python, "stack/report_charts.py", [str(data_file), str(out_dir)],
                                    what="draw the report charts", timeout=180)
    charts = drawn.get("charts") or {}
    md = build_markdown(record, snap, run, tracker.ref if tracker else None, plan, status, charts, drawn.get("error"))
    report = out_dir / "report.md"
    report.write_text(md)
    return {"report": str(report), "charts": charts, "chart_error": drawn.get("error"), "status": status,
            "reference": rc or None, "running": status == status_words.RUNNING}
