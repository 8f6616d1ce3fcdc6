"""Argument types for the CLI: a bad number or name is refused by argparse in one line (exit 2),
before anything is planned, written or started."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def int_range(low: int, high: int | None = None) -> Callable[[str], int]:
    """An integer in [low, high] (no upper bound when HIGH is None)."""

    def parse(text: str) -> int:
        value = int(_number(text, int, "an integer"))
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


count = int_range(1)  # GPUs, processes, nodes, images per GPU, epochs
index = int_range(0)  # a node rank
port = int_range(1, 65535)
seed = int_range(0, 2**32 - 1)  # numpy's seed range, which MMEngine's set_random_seed feeds


def positive_float(text: str) -> float:
    value = _number(text, float, "a number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float, "a number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def int_list(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of GPU indices, got {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected non-negative GPU indices, got {text!r}")
    return values


def job_name(text: str) -> str:
    from launcher.errors import UserError
    from launcher.jobs.registry import validate_name

    try:
        return validate_name(text)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def age(text: str) -> float:
    """A span back from now, in seconds: '90s', '30m', '12h', '7d', '2w'."""
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if unit not in _AGE_UNITS or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected an age like 30m, 12h or 7d, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value * _AGE_UNITS[unit]
