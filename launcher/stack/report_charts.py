"""The reproduction report's PNG charts, drawn with matplotlib in the training interpreter.

Run as a file (``python report_charts.py DATA.json OUT_DIR``) by launcher.references.report
through training_env.run_script: frcnn-tui itself never imports matplotlib, which
mmengine already brings into the training interpreter. Only the stdlib and matplotlib
are imported here. DATA.json::

    {"title": str, "run_label": str, "ref_label": str | null,
     "loss": [[iteration, loss], ...], "ref_loss": [[iteration, loss], ...],
     "map": [[epoch, mAP], ...], "ref_map": [[epoch, mAP], ...], "noise": float | null}

Prints one JSON line: {"charts": {"loss": path, "map": path}} or {"error": ...}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _save(plt, fig, ax, title: str, xlabel: str, ylabel: str, path: Path) -> Path:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_loss(plt, data: dict, out: Path) -> Path | None:
    if not data.get("loss") and not data.get("ref_loss"):
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if data.get("ref_loss"):
        xs, ys = zip(*data["ref_loss"])
        ax.plot(xs, ys, color="tab:orange", linewidth=1.5, label=data.get("ref_label") or "reference")
    if data.get("loss"):
        xs, ys = zip(*data["loss"])
        ax.plot(xs, ys, color="tab:blue", linewidth=1.2, label=data.get("run_label") or "this run")
    return _save(plt, fig, ax, f"{data.get('title', '')}: loss", "iteration (reference placed by fraction of its schedule)",
                 "training loss", out / "loss.png")


def _plot_map(plt, data: dict, out: Path) -> Path | None:
    if not data.get("map") and not data.get("ref_map"):
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    ref = [(e, 100 * v) for e, v in data.get("ref_map") or [] if v is not None]
    if ref:
        xs, ys = zip(*ref)
        ax.plot(xs, ys, "o-", color="tab:orange", label=data.get("ref_label") or "reference")
        if data.get("noise"):
            band = 100 * data["noise"]
            ax.fill_between(xs, [y - band for y in ys], [y + band for y in ys], color="tab:orange", alpha=0.15,
                            label=f"reference ± noise ({band:.1f} AP)")
    run = [(e, 100 * v) for e, v in data.get("map") or [] if v is not None]
    if run:
        xs, ys = zip(*run)
        ax.plot(xs, ys, "o-", color="tab:blue", label=data.get("run_label") or "this run")
    return _save(plt, fig, ax, f"{data.get('title', '')}: mAP per epoch", "epoch", "bbox mAP (%)", out / "map.png")


def main(argv: list[str]) -> int:
    try:
        data = json.loads(Path(argv[0]).read_text())
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")  # no display over SSH
        import matplotlib.pyplot as plt

        charts = {"loss": _plot_loss(plt, data, out), "map": _plot_map(plt, data, out)}
    except Exception as exc:  # reported as one JSON line; the report says the charts are missing
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"charts": {k: str(v) for k, v in charts.items() if v}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
