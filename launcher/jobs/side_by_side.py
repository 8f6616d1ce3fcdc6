"""Runs side by side (``frcnn-tui compare`` and the Compare screen): mAP per epoch, the AP
reached so far, lr and total batch of each, as in the article's own experiment (one preset
on 8, 4 and 2 GPUs).

Both views read this one result, so they list the runs in one order (the order asked for)
and say the same thing: a running job's AP is its *latest* ("latest, ep 3/5"), only a
finished one's is *final*; each run is compared with the one reference its Monitor and
``watch`` use (reference_compare: the reference run at the same epoch, else the preset's
AP as the target at the end of its schedule)."""

from __future__ import annotations

from typing import Any

from launcher.errors import UserError
from launcher.jobs import job_status, status_words
from launcher.jobs.registry import JobRecord
from launcher.monitor.values import finite
from launcher import run_files


def _devices(record: JobRecord) -> str:
    return f"cpu×{record.nproc_per_node}" if record.cpu else "gpu " + ",".join(map(str, record.gpu_ids))


def _plan(record: JobRecord) -> tuple[dict[str, Any], str | None]:
    """The run's plan.json, checked (a run without one has no lr); a broken one is named."""
    if not run_files.has_plan(record.run_path):
        return {}, None
    try:
        return run_files.read_plan_checked(record.run_path), None
    except UserError as exc:
        # The view already leads with the run's id: its run dir's path would push the reason off the line.
        return {}, str(exc).replace(f"{record.run_path}/", "")


def ap_label(status: str, latest: dict | None, max_epochs: int | None) -> str:
    """"final, ep 12/12" for a run that ended its schedule, else "latest, ep 3/5"."""
    if not latest:
        return "-"
    final = status == status_words.SUCCEEDED and (not max_epochs or latest["epoch"] >= max_epochs)
    return f"{'final' if final else 'latest'}, ep {latest['epoch']}/{max_epochs or '?'}"


def _against(snap: dict[str, Any]) -> dict[str, Any] | None:
    """The run's one reference, as its Monitor shows it (the snapshot's comparison): {name, epoch,
    reference, delta} (fractions of mAP; name None for the preset's target), or None when it has none."""
    rc = snap.get("reference")
    if rc:
        return {"name": rc["name"], "epoch": rc["epoch"], "reference": rc.get("reference"), "delta": rc.get("delta")}
    if snap.get("target"):
        t = snap["target"]
        return {"name": None, "epoch": t.get("epoch"), "reference": t["ap"] / 100,
                "delta": None if t.get("delta") is None else t["delta"] / 100}
    return None


def against_text(against: dict[str, Any] | None) -> str:
    """"five-ref 26.8 (+0.0)" at the run's epoch; "target 37.4 (ep 12)" for a preset's AP."""
    if not against:
        return "-"
    if against["name"] is None:
        from launcher.monitor.reference_compare import target_text

        delta = None if against["delta"] is None else round(100 * against["delta"], 2)
        return target_text({"ap": round(100 * against["reference"], 2), "epoch": against["epoch"], "delta": delta},
                           short=True)
    if against["reference"] is None:
        return f"{against['name']}: none at ep {against['epoch']}"
    return f"{against['name']} {100 * against['reference']:.1f} ({100 * against['delta']:+.1f})"


def run_row(record: JobRecord, catalog: Any = None) -> dict[str, Any]:
    from launcher.monitor.reference_compare import preset_target
    from launcher.monitor.run_follower import RunFollower

    status = job_status.status(record)
    # Compared as its Monitor compares it (an unreadable reference store leaves the target); the
    # catalog is read once for all the runs.
    target = preset_target(record.preset, record.reference_ap, catalog)
    snap = RunFollower.for_job(record, poll_bytes=None, compare=True, target=target).read_once()
    plan, error = _plan(record)
    maps = [m for m in snap.get("map_by_epoch") or [] if finite(m.get("bbox_mAP"))]
    lr, batch = plan.get("lr"), plan.get("total_batch")
    max_epochs = record.max_epochs or (snap.get("progress") or {}).get("max_epochs")
    final = maps[-1] if maps else None
    row = {
        "id": record.id, "name": record.name, "preset": record.preset, "status": status,
        "devices": _devices(record), "world_size": plan.get("world_size"), "imgs_per_gpu": plan.get("imgs_per_gpu"),
        "total_batch": batch, "lr": lr, "lr_per_image": lr / batch if lr and batch else None,
        "formula": plan.get("formula"), "seed": plan.get("seed"),
        "map_by_epoch": [{"epoch": m["epoch"], "bbox_mAP": m["bbox_mAP"]} for m in maps],
        # "final" is the latest evaluation, kept under its old key; ap_label says which it is.
        "final": final, "ap_label": ap_label(status, final, max_epochs), "max_epochs": max_epochs,
        "best": snap.get("best"), "reference_ap": record.reference_ap,
        "against": _against(snap),
    }
    if error:
        row["error"] = error
    return row


def compare_runs(records: list[JobRecord]) -> dict[str, Any]:
    """{"runs": [...], "epochs": [every evaluated epoch of any run]}, the runs in the order
    given; a run that cannot be read keeps its place with an ``error``."""
    from launcher.planning.presets import load_presets

    catalog = load_presets()
    runs = []
    for record in records:
        try:
            runs.append(run_row(record, catalog))
        except Exception as exc:  # one unreadable run dir must not hide the others
            runs.append({"id": record.id, "name": record.name, "preset": record.preset, "status": "?",
                         "devices": _devices(record), "map_by_epoch": [], "final": None, "ap_label": "-",
                         "against": None, "error": f"{type(exc).__name__}: {exc}"})
    epochs = sorted({m["epoch"] for r in runs for m in r["map_by_epoch"]})
    return {"runs": runs, "epochs": epochs}


def map_at(run: dict[str, Any], epoch: int) -> float | None:
    return next((m["bbox_mAP"] for m in run.get("map_by_epoch") or [] if m["epoch"] == epoch), None)


def ap_cell(run: dict[str, Any]) -> str:
    """"37.6 final, ep 12/12", "26.8 latest, ep 2/12": the AP so far and what it is."""
    final = run.get("final") or {}
    if final.get("bbox_mAP") is None:
        return "-"
    return f"{100 * final['bbox_mAP']:.1f} {run['ap_label']}"
