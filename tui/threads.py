"""Blocking calls that quitting must not wait for (a GPU probe, make_plan's subprocess, a stop's
grace period) run in daemon threads, awaited from async workers.

Textual's thread workers use the event loop's default executor, which asyncio.run()
joins on exit: quitting during a 5 s make_plan would hang the shell for 5 s.
Launch and resume stay on ordinary thread workers on purpose: they spawn the job
and then register it, and quitting must never cut that in half.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def run_detached(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():  # the awaiting worker may have been cancelled
            setter(value)

    def target() -> None:
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the awaiting worker, not lost in a thread
            outcome = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop closed: the app has quit, nobody is waiting
            pass

    threading.Thread(target=target, name=getattr(fn, "__name__", "detached"), daemon=True).start()
    return await future
