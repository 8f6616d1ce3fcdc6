"""Logged numbers as JSON carries them: finite tests, and NaN/Infinity as strings."""

from __future__ import annotations

__all__ = ["finite", "is_loss_key", "json_value"]


def finite(v: object) -> bool:
    """A real number, not NaN or infinite, not a bool. v - v (not math.isfinite): an int of any size is fine."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v - v == 0


def json_value(v: object) -> object:
    """JSON has no NaN or Infinity; they become strings so the reader still sees them."""
    if isinstance(v, float) and v - v != 0:
        return "nan" if v != v else ("inf" if v > 0 else "-inf")
    return v


def is_loss_key(k: str) -> bool:
    """MMEngine's total "loss" and its parts ("loss_cls", "loss_rpn_bbox", ...), not e.g. "acc" or "lr"."""
    return k == "loss" or k.startswith("loss_")
