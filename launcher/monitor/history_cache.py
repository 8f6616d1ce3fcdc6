"""The parsed state of a work dir's history, kept so that reading it again costs only the new lines.

Why an index and not only a faster parser: parsing every line of a 1,000,000-line
scalars.json costs at least ~0.4x a plain ``json.loads`` loop even with orjson (the
floor is building a dict and floats per line), while reattaching to a long run should
take well under a second. So whoever has read a long history (``watch --once``, the
TUI's Monitor, ``catch_up``) keeps the result: the tailer's read positions and the
``JobMetrics`` built from them (series are bounded min/max buckets, so this stays a
few hundred KiB however long the run). The next reader restores it and parses only
what was written since.

Where: the user's private cache folder (``paths.cache_dir()/history``), not beside
the log: work dirs are often shared, read-only or on NFS, and a pickle may only be
loaded from a folder nobody else can write to.

The folder is pruned at each save: the states not read or written for MAX_AGE_S go, and
beyond MAX_KEPT the least recently used ones (a restore counts as a use), so it stays a few
tens of MiB however many work dirs are read; a dropped state only costs a plain read.

Valid while the code that built it is the same (a hash of launcher/monitor's sources),
for the same work dir and settings, and every followed file still has the same inode,
is at least as long as what was read, and holds the same bytes at its start and just
before where reading stopped. Anything else (or any error) means a plain read.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import time
from pathlib import Path

__all__ = ["SAVE_MIN_BYTES", "restore", "save"]

# Below this, reading the history again is fast enough not to keep it (~0.1 s).
SAVE_MIN_BYTES = 16 << 20
_FINGERPRINT_BYTES = 4096
# The folder's bounds (see the module doc): ~0.3 MiB a state.
MAX_KEPT = 64
MAX_AGE_S = 30 * 86400
# A .tmp this old is a save that died half-way (a save takes well under a second).
_TMP_AGE_S = 3600
# Set by the caller's snapshot, not part of what was read.
_CALLER_FIELDS = ("max_epochs", "reference_ap")


@functools.lru_cache(maxsize=1)
def _code_key() -> str:
    h = hashlib.sha1()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _cache_file(work_dir: Path) -> Path:
    from launcher.paths import cache_dir, ensure_private_dir

    key = hashlib.sha1(os.path.realpath(work_dir).encode()).hexdigest()
    return ensure_private_dir(cache_dir() / "history") / f"{key}.pickle"


def _fingerprint(path: Path, offset: int) -> tuple[int, bytes] | None:
    """(inode, hash of the first and of the last bytes read) of a file read up to ``offset``."""
    try:
        with open(path, "rb") as fh:
            ino = os.fstat(fh.fileno()).st_ino
            head = fh.read(min(offset, _FINGERPRINT_BYTES))
            fh.seek(max(0, offset - _FINGERPRINT_BYTES))
            tail = fh.read(offset - max(0, offset - _FINGERPRINT_BYTES))
    except OSError:
        return None
    return ino, hashlib.sha1(head + b"\0" + tail).digest()


def _identity(tailer, metrics) -> tuple:
    # The settings the kept state was folded with: another warmup or stall grace judges otherwise.
    return (_code_key(), os.path.realpath(tailer.work_dir), metrics.warmup_iters, metrics.max_buckets,
            metrics.stall_grace_s)


def save(tailer, metrics) -> bool:
    """Keeps what ``tailer`` has read and ``metrics`` holds; False when it could not."""
    files = [(str(f.path), f.offset, _fingerprint(f.path, f.offset) if f.offset else None)
             for f in tailer.followed_files()]
    state = {"identity": _identity(tailer, metrics), "files": files,
             "tailer": tailer.__dict__,
             "metrics": {k: v for k, v in metrics.__dict__.items() if k not in _CALLER_FIELDS}}
    try:
        target = _cache_file(tailer.work_dir)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target)  # readers see the old cache or the new one, never half
    except Exception:  # a full disk or an unwritable cache only costs the next reader time
        return False
    _prune(target.parent, keep=target)
    return True


def _prune(folder: Path, keep: Path) -> None:
    """Drops the states past MAX_AGE_S and the least recently used beyond MAX_KEPT (never
    ``keep``, just written), and .tmp files left by a save that died."""
    now = time.time()
    states = []
    try:
        for entry in os.scandir(folder):
            age = now - entry.stat().st_mtime
            if entry.name.endswith(".tmp"):
                if age > _TMP_AGE_S:
                    os.unlink(entry.path)
            elif entry.name.endswith(".pickle") and entry.path != str(keep):
                states.append((age, entry.path))
    except OSError:
        return
    states.sort()  # the most recently used first
    for i, (age, path) in enumerate(states):
        if age > MAX_AGE_S or i >= MAX_KEPT - 1:
            try:
                os.unlink(path)
            except OSError:
                pass


def restore(tailer, metrics) -> bool:
    """Puts a valid kept state into a fresh ``tailer`` and ``metrics``; False (both
    untouched) when there is none."""
    try:
        path = _cache_file(tailer.work_dir)
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        if state["identity"] != _identity(tailer, metrics):
            return False
        for name, offset, fingerprint in state["files"]:
            if offset and _fingerprint(Path(name), offset) != fingerprint:
                return False
    except Exception:  # missing, unreadable, or from other code: read the history
        return False
    tailer.__dict__.update(state["tailer"])
    metrics.__dict__.update(state["metrics"])
    try:
        os.utime(path)  # a use: pruning keeps the recently used states
    except OSError:
        pass
    return True
