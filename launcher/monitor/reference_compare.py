"""The live comparison with a reference run, applied to a metrics snapshot.

One reference per view, compared at the same epoch: a reference *run* when there is one
(below). A preset's model-zoo AP is what the run aims at by the end of the preset's schedule,
so it is only ever a *target* ("target 37.4 at epoch 12", ``preset_target``), compared with
the run at that epoch and never as an epoch-1 delta.

``ReferenceTracker.apply(snapshot)`` adds, at the latest evaluated epoch, the object
``reference`` {name, epoch, run, reference, delta, noise, behind, ...} and, once the run
trails by more than the noise for two evaluations in a row, a ``behind-reference``
alert naming the likely causes (see launcher.references.behind_reference). With ``series`` in the
snapshot it also adds what the charts draw: the reference mAP per epoch and its loss
curve placed on this run's iteration axis (by fraction of the schedule, so a run with
another total batch still lines up).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from launcher.references import behind_reference, store
from launcher.references.model import Reference
from launcher import run_files

__all__ = ["ReferenceTracker", "tracker_for", "job_reference_name", "preset_target", "target_text", "apply"]


class ReferenceTracker:
    def __init__(self, ref: Reference, noise: float, noise_source: str,
                 run_facts: Callable[[], dict[str, Any]] | None = None) -> None:
        self.ref, self.noise, self.noise_source = ref, noise, noise_source
        self._run_facts = run_facts
        self._facts: dict[str, Any] | None = None
        self._alert: dict[str, Any] | None = None

    def run_facts(self) -> dict[str, Any]:
        """The run's lr, batch, seed and versions, read once and only when an alert needs them."""
        if self._facts is None:
            try:
                self._facts = self._run_facts() if self._run_facts else {}
            except Exception:  # the run's own logs may be mid-write; causes are then unknown
                self._facts = {}
        return self._facts

    def apply(self, snap: dict[str, Any]) -> dict[str, Any]:
        maps = snap.get("map_by_epoch") or []
        obj = behind_reference.comparison(maps, self.ref, self.noise)
        obj["noise_source"] = self.noise_source
        obj["preset"] = self.ref.preset
        obj["final"] = (self.ref.final or {}).get("bbox_mAP")
        obj["map_by_epoch"] = [[r["epoch"], r.get("bbox_mAP")] for r in self.ref.map_by_epoch]
        if "series" in snap:
            obj["loss_curve"] = self.loss_on_run_axis((snap.get("progress") or {}).get("total_iters"))
        snap["reference"] = obj
        if self._alert is None:
            self._alert = behind_reference.behind_alert(maps, self.ref, self.noise, self.run_facts)
        if self._alert is not None:
            snap["alerts"] = list(snap.get("alerts") or []) + [self._alert]
        return snap

    def loss_on_run_axis(self, total_iters: int | None) -> list[list[float]]:
        """[[this run's iteration, reference loss], ...]; [] until the run's length is known."""
        if not total_iters:
            return []
        return [[round(f * total_iters), v] for f, v in self.ref.loss_curve]


def job_reference_name(run_dir: Path) -> str | None:
    """The reference a job was launched with (``launch --reference``), from its plan.json."""
    name = run_files.read_plan(run_dir).get("reference")
    return name if isinstance(name, str) and name else None


def tracker_for(work_dir: Path, name: str | None, preset: str | None) -> ReferenceTracker | None:
    """The tracker for a run: reference NAME (an unknown one is a UserError), else the one
    recorded at launch, else the preset's newest; None when there is none (the flat
    reference AP line stays)."""
    recorded = job_reference_name(work_dir)
    if not name and recorded and store.exists(recorded):
        name = recorded  # one removed since the launch falls back to the preset's
    ref = store.resolve(name, preset)
    if ref is None:
        return None
    noise, how = behind_reference.noise_threshold(ref, store.load_all())

    def run_facts() -> dict[str, Any]:
        from launcher.references.sources import read_path

        run = read_path(work_dir, "run")
        return {"train": run.train, "env": run.env}

    return ReferenceTracker(ref, noise, how, run_facts)


def preset_target(preset: str | None, reference_ap: float | None, catalog=None) -> dict[str, Any] | None:
    """{"ap": 37.4, "epoch": 12}: the preset's final AP (percent) and the epoch it is reached
    at (the preset's schedule; None when the preset is gone); None without an AP."""
    if reference_ap is None:
        return None
    if catalog is None:
        from launcher.planning.presets import load_presets

        catalog = load_presets()
    known = catalog.presets.get(preset) if preset else None
    return {"ap": reference_ap, "epoch": known.epochs if known else None}


def target_text(target: dict[str, Any], short: bool = False) -> str:
    """"target 37.4 at epoch 12", and the run against it once it has been evaluated there;
    ``short`` (a header, a table cell): "target 37.4 (ep 12)", then "target 37.4 (+0.0)"."""
    delta = target.get("delta")
    if short:
        return f"target {target['ap']:g}" + (f" ({delta:+.1f})" if delta is not None else
                                             f" (ep {target['epoch']})" if target.get("epoch") else "")
    text = f"target {target['ap']:g}" + (f" at epoch {target['epoch']}" if target.get("epoch") else "")
    return text + (f" ({delta:+.1f})" if delta is not None else "")


def apply(snap: dict[str, Any], tracker: ReferenceTracker | None, target: dict[str, Any] | None) -> dict[str, Any]:
    """What every view of a run compares it with: the reference run (``reference``) when there
    is one, else the preset's target (``target``, with ``delta`` once the run reached its epoch)."""
    if tracker is not None:
        tracker.apply(snap)
    if target is not None and tracker is None:
        at = next((m.get("bbox_mAP") for m in snap.get("map_by_epoch") or []
                   if m.get("epoch") == target.get("epoch")), None)
        snap["target"] = dict(target, delta=None if at is None else round(100 * at - target["ap"], 2))
    else:
        snap["target"] = None
    return snap
