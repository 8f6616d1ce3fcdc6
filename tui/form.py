"""Reading typed form values: a one-line ValueError in the form's words for anything else."""

from __future__ import annotations


def whole_number(text: str, name: str, default: int | None, minimum: int | None = None) -> int | None:
    """TEXT as an int (DEFAULT when empty); said in the form's words, before the core sees it."""
    text = text.strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value
