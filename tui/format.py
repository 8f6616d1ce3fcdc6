"""Small text formatters for the UI (presentation only: no launcher logic here)."""

from __future__ import annotations

import math

BARS = "▁▂▃▄▅▆▇█"


def gib(mib: int | None) -> str:
    return "?" if mib is None else f"{mib / 1024:.1f}G"


def spark(values: list[float], top: float, width: int) -> str:
    """The last `width` values as bars on a fixed 0..top scale (a constant 0 stays flat)."""
    values = values[-width:]
    out = []
    for v in values:
        frac = 0.0 if top <= 0 else max(0.0, min(1.0, v / top))
        out.append(BARS[min(len(BARS) - 1, int(frac * (len(BARS) - 1) + 0.5))])
    return "".join(out).rjust(width)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def ago(then: float | None, now: float) -> str:
    if not then:
        return "-"
    return duration(max(0.0, now - then)) + " ago"


def ago_minutes(then: float | None, now: float) -> str:
    """Like ago, to the minute ('<1m ago', '12m ago', '3h05m ago'): a list that shows it changes
    once a minute, not at every refresh (each change is bytes over the user's SSH link)."""
    if not then:
        return "-"
    minutes = int(max(0.0, now - then) // 60)
    if minutes < 60:
        return f"{minutes}m ago" if minutes else "<1m ago"
    return duration(minutes * 60) + " ago"


def ap(fraction: float | None) -> str:
    """mAP as the model zoo writes it (percent, one decimal); MMEngine logs fractions."""
    if fraction is None or (isinstance(fraction, float) and not math.isfinite(fraction)):
        return "-"
    return f"{100 * fraction:.1f}"


def number(value: object) -> str:
    if isinstance(value, str):  # "nan" / "inf" from a JSON-safe snapshot
        return value
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


STATUS_CLASS = {"pass": "ok", "warn": "warn", "fail": "bad", "running": "run", "succeeded": "ok",
                "failed": "bad", "stopped": "warn", "finished": "ok", "waiting": "run", "pending": "warn"}
STATUS_STYLE = {"ok": "$success", "warn": "$warning", "bad": "$error", "run": "$accent"}


def status_markup(status: str, text: str | None = None) -> str:
    """Content markup for a status word in its semantic colour (works with NO_COLOR too: bold stays)."""
    style = STATUS_STYLE.get(STATUS_CLASS.get(status, ""), "")
    body = (text or status).replace("[", r"\[")
    return f"[bold {style}]{body}[/]" if style else body


def styled(app: object, text: str, status: str, bold: bool = True) -> "Text":
    """A Rich Text in the theme's semantic colour for a status (for DataTable cells, which take Rich)."""
    from rich.text import Text

    var = STATUS_STYLE.get(STATUS_CLASS.get(status, ""), "").lstrip("$")
    color = app.theme_variables.get(var) if var else None  # type: ignore[attr-defined]
    style = " ".join(x for x in ("bold" if bold else "", color or "") if x)
    return Text(text, style=style)
