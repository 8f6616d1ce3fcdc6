"""Notification targets: apprise URLs, where they come from, how they are shown, how they are sent.

A target is one apprise URL (``json://host:port/path``, ``slack://…``, ``ntfy://…``, …): from
``launch --notify URL`` (kept in the run's plan.json, mode 0600) and from ``notify = [...]`` in
config.toml, which also says which event kinds to send (``notify_events``; default
DEFAULT_KINDS). A URL is a secret (tokens sit in its host, user, password or path), so
everything the user sees names it by ``redact()`` only: the scheme, and the host when it is a
plain host name.

apprise is imported only here and only when something is sent: never at frcnn-tui's start-up.
The ``Notifier`` sends from its own thread and retries an unreachable target with back-off,
so a dead network never slows the sentinel, let alone the training; a delivery given up on
is reported to the caller (an event of its own).
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from launcher import paths
from launcher.errors import UserError
from launcher.sentinel.events import KINDS
from launcher import run_files

__all__ = ["DEFAULT_KINDS", "Notifier", "Target", "check_url", "configured", "plan_entry", "redact", "scrub",
           "send", "targets_for_run"]

DEFAULT_KINDS = ("finished", "failed", "stalled", "diverged", "behind-reference")
# Back-off of a failed delivery: BASE, 2 x BASE, 4 x BASE, ... for TRIES tries in all. The
# environment variable shortens it for tests (and for a user who wants it sooner).
BACKOFF_ENV = "FRCNN_TUI_NOTIFY_BACKOFF_S"
DEFAULT_BACKOFF_S = 5.0
TRIES = 5
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
_HOSTNAME = re.compile(r"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)$")


@dataclass(frozen=True)
class Target:
    url: str
    kinds: tuple[str, ...] = DEFAULT_KINDS

    @property
    def name(self) -> str:
        return redact(self.url)


def check_url(url: str) -> str:
    """A notification URL's form (scheme://…), checked without apprise; the error never
    repeats the URL itself, only its redacted form."""
    if not isinstance(url, str) or not _URL.match(url):
        raise UserError(f"--notify takes an apprise URL such as json://host:port/path or ntfy://topic, "
                        f"got {redact(url) if isinstance(url, str) and '://' in url else 'a value without scheme://'}")
    return url


def redact(url: str) -> str:
    """``scheme://host[:port]`` when the host is a plain host name or address (json://127.0.0.1:8080);
    ``scheme://…`` when it may be a token (tgram://BOTTOKEN/…, discord://WEBHOOK_ID/…)."""
    scheme = url.split("://", 1)[0]
    if "://" not in url or not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*$", scheme):
        return "(not a URL)"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:  # tgram://123456:TOKEN/… reads as a bad port: a token, not a host
        return f"{scheme}://…"
    if not host or not _is_plain_host(host):
        return f"{scheme}://…"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port else "")


def _is_plain_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(host)) and not any(c.isdigit() for c in host.split(".")[0][:1])


def scrub(text: str, url: str) -> str:
    """TEXT with URL and every secret-looking piece of it (user, password, path and query
    parts) replaced: what a delivery error may say about the target is shown safely."""
    text = text.replace(url, redact(url))
    try:
        parts = urlsplit(url)
        pieces = [parts.username, parts.password, parts.path, parts.query, parts.fragment,
                  *re.split(r"[/?&=]", f"{parts.path}?{parts.query}")]
        if parts.hostname and not _is_plain_host(parts.hostname):
            pieces.append(parts.hostname)
    except ValueError:
        pieces = re.split(r"[:/?&=@]", url)
    for piece in sorted({p for p in pieces if p and len(p) >= 4}, key=len, reverse=True):
        text = text.replace(piece, "…")
    return text


# -- where targets come from ------------------------------------------------------

def configured() -> list[Target]:
    """config.toml's ``notify = ["URL", …]`` with its ``notify_events`` kinds; a wrong value is
    one line naming the file and the key."""
    from launcher.stack.training_env import settings  # config.toml's one reader

    data = settings()
    path = paths.config_dir() / "config.toml"
    urls = data.get("notify", [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) and _URL.match(u) for u in urls):
        raise UserError(f"{path}: 'notify' must be a list of apprise URLs (\"json://host:port/\", …)")
    kinds = data.get("notify_events", list(DEFAULT_KINDS))
    if not isinstance(kinds, list) or not all(k in KINDS for k in kinds):
        raise UserError(f"{path}: 'notify_events' must be a list of event kinds out of {', '.join(KINDS)}")
    return [Target(u, tuple(kinds)) for u in urls]


def plan_entry(request: Any) -> dict[str, Any]:
    """What plan.json keeps for the job's sentinel: a launch's ``--notify`` URLs (plan.json is
    written 0600), its ``--on-stall`` where it is not the default, and its ``--stall-grace`` where
    given (every reader of the run judges a stall with it: monitor/run_follower)."""
    urls = [check_url(u) for u in getattr(request, "notify", None) or []]
    on_stall = getattr(request, "on_stall", "keep")
    grace = getattr(request, "stall_grace_s", None)
    return {**({"notify": urls} if urls else {}), **({"on_stall": on_stall} if on_stall != "keep" else {}),
            **({"stall_grace_s": grace} if grace is not None else {})}


def targets_for_run(run_dir: str | os.PathLike) -> list[Target]:
    """The run's own targets (plan.json ``notify``, from launch --notify) and the configured
    ones; one URL once. The run's own get the configured kinds too."""
    plan = run_files.read_plan(Path(run_dir))
    own = [u for u in plan.get("notify") or [] if isinstance(u, str) and _URL.match(u)]
    config = configured()
    kinds = config[0].kinds if config else DEFAULT_KINDS
    out: dict[str, Target] = {}
    for target in [Target(u, kinds) for u in own] + config:
        out.setdefault(target.url, target)
    return list(out.values())


# -- sending ----------------------------------------------------------------------

class _Errors(logging.Handler):
    """Keeps what apprise logs while sending (its only way of saying why a delivery failed)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


_send_lock = threading.Lock()


def send(url: str, title: str, body: str) -> tuple[bool, str]:
    """One delivery: (delivered, why not). apprise's own log goes nowhere (it may name the URL);
    its last error line, scrubbed of the URL's secrets, is the reason."""
    import apprise

    with _send_lock:  # the handler is the apprise logger's, one delivery at a time
        logger = logging.getLogger("apprise")
        logger.propagate = False
        errors = _Errors()
        logger.addHandler(errors)
        try:
            ap = apprise.Apprise()
            if not ap.add(url):
                return False, f"{redact(url)} is not a URL apprise knows"
            delivered = bool(ap.notify(title=title, body=body))
        except Exception as exc:  # a plugin's own bug must not end the sentinel
            errors.lines.append(f"{type(exc).__name__}: {exc}")
            delivered = False
        finally:
            logger.removeHandler(errors)
    reason = "" if delivered else scrub(errors.lines[-1] if errors.lines else "not delivered", url)
    return delivered, " ".join(reason.split())[:200]


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    target: Target = field(compare=False)
    event: dict = field(compare=False)
    tries: int = field(default=0, compare=False)
    reason: str = field(default="", compare=False)


class Notifier(threading.Thread):
    """Sends events to targets from its own thread; a failed delivery is tried again after
    BASE, 2 x BASE, … seconds, TRIES tries in all, then given up: ``on_give_up(target, event,
    tries, reason)``. ``drain(deadline)`` waits for what is queued, then gives the rest up."""

    def __init__(self, targets: list[Target], on_give_up: Callable[[Target, dict, int, str], None],
                 *, base_s: float | None = None, tries: int = TRIES,
                 sender: Callable[[str, str, str], tuple[bool, str]] = send) -> None:
        super().__init__(name="frcnn-tui-notifier", daemon=True)
        self.targets = targets
        self.on_give_up = on_give_up
        if base_s is None:
            try:
                base_s = float(os.environ.get(BACKOFF_ENV, DEFAULT_BACKOFF_S))
            except ValueError:
                base_s = DEFAULT_BACKOFF_S
        self.base_s, self.tries, self._send = max(0.0, base_s), tries, sender
        self._queue: list[_Delivery] = []
        self._seq = 0
        self._busy = False
        self._cond = threading.Condition()
        self._closed = False
        self.delivered: list[tuple[str, str]] = []  # (redacted target, event kind)
        self.attempts = 0

    def submit(self, event: dict[str, Any]) -> int:
        """Queues EVENT for every target that takes its kind; returns how many."""
        n = 0
        with self._cond:
            for target in self.targets:
                if event.get("kind") in target.kinds:
                    self._seq += 1
                    heapq.heappush(self._queue, _Delivery(time.monotonic(), self._seq, target, event))
                    n += 1
            self._cond.notify_all()
        return n

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._queue or self._queue[0].due > time.monotonic()):
                    self._cond.wait(None if not self._queue else max(0.0, self._queue[0].due - time.monotonic()))
                if self._closed:
                    return
                item = heapq.heappop(self._queue)
                self._busy = True
            ok, reason = self._send(item.target.url, _title(item.event), item.event.get("text", ""))
            item.tries += 1
            with self._cond:
                self._busy = False
                self.attempts += 1
                if ok:
                    self.delivered.append((item.target.name, item.event.get("kind", "")))
                elif item.tries < self.tries:
                    item.reason = reason
                    item.due = time.monotonic() + self.base_s * 2 ** (item.tries - 1)
                    heapq.heappush(self._queue, item)
                self._cond.notify_all()
            if not ok and item.tries >= self.tries:
                self.on_give_up(item.target, item.event, item.tries, reason)

    def drain(self, deadline: float) -> None:
        """Waits (until the monotonic DEADLINE) for every queued delivery; gives up the rest."""
        with self._cond:
            while (self._queue or self._busy) and time.monotonic() < deadline:
                self._cond.wait(max(0.0, deadline - time.monotonic()))
            left, self._queue, self._closed = self._queue, [], True
            self._cond.notify_all()
        for item in sorted(left):
            self.on_give_up(item.target, item.event, item.tries, item.reason or "not sent before the job ended")


def _title(event: dict[str, Any]) -> str:
    return f"frcnn-tui: job {event.get('details', {}).get('name') or event.get('job')} {event.get('kind')}"
