"""`frcnn-tui notify test [URL]`: send one message to a notification target and say in one line
whether it arrived; `launch --notify URL`. The URL is a secret: only its redacted form
(launcher.sentinel.notify.redact) is ever printed. apprise is imported only when sending."""

from __future__ import annotations

import argparse
import time

from launcher.cli.arg_types import non_negative_float
from launcher.cli.common import print_json
from launcher.errors import UserError
from launcher.monitor import STALL_GRACE_S

__all__ = ["add_notify_arg", "register"]


def _url(value: str) -> str:
    from launcher.sentinel.notify import check_url

    try:
        return check_url(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--notify takes ")) from None


def add_notify_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--notify", action="append", type=_url, metavar="URL",
                   help="send the job's events (finished, failed, stalled, ...) to this apprise URL, e.g. "
                        "json://host:port/path, ntfy://topic, slack://...; repeatable (config.toml: notify = [...])")
    # The other thing the sentinel does for a user who is not watching (launcher/sentinel/watcher.py).
    p.add_argument("--on-stall", choices=("keep", "stop"), default="keep",
                   help="after a stall's stack dump: keep the job running so you can look (default), or stop it "
                        "(frees the GPUs of a hung run)")
    p.add_argument("--stall-grace", type=non_negative_float, metavar="SECONDS",
                   help="silence allowed beyond three of the job's usual log intervals before it is called "
                        f"stalled (default {STALL_GRACE_S:g}; more for a step that logs nothing for long)")


def cmd_notify_test(args: argparse.Namespace) -> int:
    from launcher.sentinel import notify

    targets = [notify.Target(args.url)] if args.url else notify.configured()
    if not targets:
        raise UserError("no notification target: give a URL, or set notify = [\"URL\"] in config.toml")
    results = []
    for target in targets:
        delivered, reason = notify.send(target.url, "frcnn-tui: test", f"frcnn-tui test message, sent at "
                                        f"{time.strftime('%Y-%m-%d %H:%M:%S')}: notifications reach you here.")
        if reason.endswith("is not a URL apprise knows"):
            raise UserError(reason)
        results.append({"target": target.name, "delivered": delivered, "reason": reason or None})
    if args.json:
        print_json({"results": results})
    else:
        for r in results:
            print(f"delivered to {r['target']}" if r["delivered"] else
                  f"not delivered to {r['target']}: {r['reason']}")
    return 0 if all(r["delivered"] for r in results) else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notify", help="notification targets: notify test [URL]")
    actions = p.add_subparsers(dest="notify_command", required=True, parser_class=type(p))
    t = actions.add_parser("test", help="send one test message (to URL, else to config.toml's targets)")
    t.add_argument("url", nargs="?", type=_url, metavar="URL")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_notify_test)
