"""The TUI's one way to get work off the UI thread: an async worker (``@work`` on an ``async def``,
or ``run_worker(coroutine)``) that awaits ``run_detached(fn, ...)``, then updates widgets itself
on the UI thread. Every screen and widget uses it for blocking calls (the GPU probe, make_plan's
subprocess, the registry, sinfo, a stop's grace period, the event feed's look).

Why this one: the result comes back where the widgets live (no call_from_thread, no message
class per call), exclusive workers cancel a stale request for free, and the thread is a daemon.
Textual's thread workers (``@work(thread=True)``) use the event loop's default executor, which
asyncio.run() joins on exit: quitting during a 5 s make_plan would hang the shell for 5 s.

Two exceptions, on purpose:
- Launch and resume run on ordinary thread workers: they spawn the job and then register it,
  and quitting must wait for both rather than cut that in half.
- A Monitor's JobWatcher (tui/watcher.py) is one long-lived thread that follows a run and posts
  messages (as toolong's watcher does): a loop for the screen's life, not a call with a result.
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
