"""Quit when the terminal goes away (SSH dropped, tmux pane closed), instead of spinning.

Why it is needed: after a hang-up, every read of the terminal returns EOF at once, and
Textual's Linux driver treats an empty read as "stdin is piped" and selects again: one core
at 100% for ever. The kernel sends SIGHUP only to the terminal's session leader; when that is
`make run` (or `bash -i` running make), make catches SIGHUP and waits for its child, so the
TUI never hears of the hang-up at all. Two detectors, whichever fires first:
- SIGHUP, when it does arrive (started directly, or ignored-then-inherited dispositions aside);
- the terminal itself: a hung-up tty answers every ioctl with EIO, so tcgetattr on stdin,
  once a second (microseconds each), tells a dead terminal from a live one without reading
  (and so stealing) any input.
Either way the app exits; a backstop ends the process if Textual's teardown blocks on
writing to the dead terminal (its writer thread dies on EIO and the queue fills up).
Jobs are never touched: they run in their own sessions.
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import termios
import threading
from typing import Any

POLL_S = 1.0
EXIT_BACKSTOP_S = 3.0
HANGUP_EXIT_CODE = 128 + signal.SIGHUP
DEAD_TTY_ERRNOS = (errno.EIO, errno.ENXIO, errno.EBADF, errno.ENOTTY)


def terminal_fd() -> int | None:
    """stdin's descriptor when it is a terminal (the only case the Linux driver reads one)."""
    try:
        fd = sys.__stdin__.fileno()
    except (AttributeError, ValueError, OSError):
        return None
    return fd if os.isatty(fd) else None


def terminal_gone(fd: int) -> bool:
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        return bool(exc.args) and exc.args[0] in DEAD_TTY_ERRNOS
    return False


def watch(app: Any) -> None:
    """Call from the app's on_mount. Does nothing for headless apps (tests, Pilot)."""
    if app.is_headless:
        return
    fd = terminal_fd()
    if fd is None:
        return

    def hang_up(reason: str) -> None:
        if getattr(app, "hung_up", None):
            return
        app.hung_up = reason
        _arm_backstop()
        app.exit(HANGUP_EXIT_CODE, return_code=HANGUP_EXIT_CODE)

    def poll() -> None:
        if terminal_gone(fd):
            hang_up("terminal gone (EIO)")

    try:
        # Replaces an inherited SIG_IGN too (nohup, a suite run with '&'): a TUI with no terminal is useless.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, hang_up, "SIGHUP")
    except (RuntimeError, NotImplementedError, ValueError):
        pass
    app.set_interval(POLL_S, poll, name="terminal-hangup")


def _arm_backstop() -> None:
    def end() -> None:
        os._exit(HANGUP_EXIT_CODE)

    timer = threading.Timer(EXIT_BACKSTOP_S, end)
    timer.daemon = True
    timer.start()
