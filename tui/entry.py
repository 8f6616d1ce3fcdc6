"""The program entry (`frcnn-tui`): the TUI with no command, else the CLI.

It lives here, not in launcher/, because it is the one place that may see both
packages: the core must never import the UI.
"""

from __future__ import annotations

import sys


def _open_tui() -> int:
    import gc

    from launcher.errors import UserError

    # The app resumes the cyclic GC once its first frame is drawn (FrcnnApp.on_load says why);
    # pausing it here too spares Textual's import its passes (~15 ms of CPU).
    gc.disable()

    try:
        from tui.app import run_app
    except ImportError as exc:
        raise UserError(f"the TUI cannot start: {exc}") from None
    return run_app()


def main(argv: list[str] | None = None) -> int:
    if not (sys.argv[1:] if argv is None else argv):
        from launcher.errors import guarded

        # No command: the TUI needs neither the CLI nor its parser; importing the one and
        # building the other (every subcommand's options) was ~20 ms of the first frame.
        return guarded(_open_tui)
    from launcher.cli.main import main as cli_main

    return cli_main(argv, open_tui=_open_tui)


if __name__ == "__main__":
    sys.exit(main())
