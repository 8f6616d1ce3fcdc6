"""The one exception type that becomes a one-line message and exit code 2."""

from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """Bad input from the user (a flag, a preset, a job name): shown as one line, exit 2."""

    exit_code = 2


class CheckFailed(UserError):
    """A refusal that is not bad usage (failing checklist, busy GPUs): exit 1."""

    exit_code = 1


def guarded(run: Callable[[], int]) -> int:
    """RUN's exit code; a UserError as one line and its code, never a traceback. Here, not
    in the CLI, so the program entry can open the TUI without importing the CLI."""
    try:
        return run()
    except UserError as exc:
        print(f"frcnn-tui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `frcnn-tui jobs | head`
        return 0
