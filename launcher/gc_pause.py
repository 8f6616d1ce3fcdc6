"""The cyclic GC paused while a burst of long-lived objects is made.

Parsing a big JSON file (ten thousand kept job rows, a long scalars history) allocates
hundreds of thousands of dicts and lists that live on or are freed without reference
cycles: the GC's passes, triggered every 700 allocations and walking everything made so
far, free nothing and cost up to two thirds of the parse (job-index.json at 10,000 jobs:
0.22 s with them, 0.07 s without).
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic GC inside the block; as it was after (a caller that had it off keeps it off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
