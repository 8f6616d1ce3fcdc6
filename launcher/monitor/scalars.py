"""MMEngine's vis_data/scalars.json: one JSON object a line, parsed fast.

Training lines carry lr, the losses, epoch, iter and step; validation lines carry
evaluator metrics (``coco/bbox_mAP``...) and a step equal to the epoch. Consecutive
lines with the same keys come back as one ``ScalarBatch``, stored by column.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass

from launcher.monitor.follow import FollowedFile

try:
    # orjson parses a line ~4x faster than json.loads with the same results: it refuses
    # what json.loads reads differently (NaN, 1e400, lone surrogates) and those lines
    # go through json.loads. The one exception: an integer beyond 64 bits comes back as the nearest
    # float, not an int; no training log holds one, and guarding against it (a regex
    # over every chunk) would cost a third of the parse.
    from orjson import JSONDecodeError as _OrjsonError, loads as _orjson_loads
except ImportError:  # still correct without it, at the regex path's speed
    _orjson_loads = None

__all__ = ["ScalarBatch", "ScalarFile", "learn_shape", "parse_single"]

# json.dumps writes every value of a train line as one of these; NaN and Infinity
# are what Python's json emits for non-finite floats.
_VALUE = rb"(-?[0-9][0-9.eE+-]*|NaN|-?Infinity)"
_NOT_INT = re.compile(rb"[.eENI]")
_NUMBER_TYPES = {int, float}


@dataclass
class ScalarBatch:
    """Consecutive scalars.json lines with the same keys, stored by column.

    Column values are exactly what ``json.loads`` would give (int, float, or for
    irregular single lines anything JSON allows).
    """

    keys: tuple[str, ...]
    columns: dict[str, list]
    source: int
    first_line: int

    @property
    def n(self) -> int:
        return len(self.columns[self.keys[0]]) if self.keys else 0

    def pos(self, row: int) -> tuple[int, int]:
        return (self.source, self.first_line + row)

    @property
    def last_pos(self) -> tuple[int, int]:
        return self.pos(self.n - 1)

    def row(self, i: int) -> dict:
        return {k: self.columns[k][i] for k in self.keys}

    @property
    def is_validation(self) -> bool:
        # Evaluator metrics are prefixed ("coco/bbox_mAP"); train keys never are.
        return any("/" in k for k in self.keys)


def _is_train_record(d: object) -> bool:
    return (
        isinstance(d, dict) and len(d) >= 2
        and all("/" not in k for k in d)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in d.values())
    )


@functools.lru_cache(maxsize=32)
def _shape_pattern(keys: tuple[str, ...]) -> re.Pattern:
    # Either a whole line of exactly these keys in this order (json.dumps default
    # separators), or any other line captured whole in the last group.
    body = b", ".join(re.escape(json.dumps(k).encode()) + b": " + _VALUE for k in keys)
    return re.compile(rb"\{" + body + rb"\}\n|([^\n]*)\n")


def learn_shape(lines) -> tuple[str, ...] | None:
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if _is_train_record(d):
            return tuple(d)
    return None


def _loads_one(line: bytes) -> object:
    """A line orjson refused: json.loads' reading of it (NaN, 1e400...), None when blank
    or not JSON."""
    try:
        return _orjson_loads(line)
    except _OrjsonError:
        pass
    try:
        return json.loads(line)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None


def _convert_column(values: tuple) -> list:
    # int() first so the column equals what json.loads would give; a float that
    # slipped into an int column (or "1.2.3" that only looks numeric) falls back.
    if not _NOT_INT.search(values[0]):
        try:
            return list(map(int, values))
        except ValueError:
            pass
    return list(map(float, values))


def parse_single(line: bytes, source: int, line_no: int) -> ScalarBatch | None:
    """One irregular line through json.loads; None when it is not a JSON object."""
    try:
        d = json.loads(line)
    except ValueError:  # UnicodeDecodeError is a ValueError too
        return None
    if not isinstance(d, dict) or not d:
        return None
    return ScalarBatch(tuple(d), {k: [v] for k, v in d.items()}, source, line_no)


class ScalarFile(FollowedFile):
    """A scalars.json being followed, with the key order its train lines usually have."""

    def __init__(self, path, name: str, index: int) -> None:
        super().__init__(path, name, index)
        self.shape: tuple[str, ...] | None = None
        self.skimmed = 0
        self.skim_lines = 0

    def needle(self, token: bytes) -> bytes:
        """What the skim searches for to find ``token`` (NaN, Infinity): its first
        byte alone when no key has that byte, since bytes.find is memchr-fast only
        for one-byte needles."""
        if self.shape is None or any(chr(token[0]) in k for k in self.shape):
            return token
        return token[:1]

    def parse(self, data: bytes, first_line: int) -> tuple[list[ScalarBatch], int]:
        """Complete lines -> batches in file order, plus the count of bad lines.

        The fast path is orjson on every line (``_parse_orjson``), ~3x faster than
        json.loads with its exact results. Without orjson it is one regex over the whole chunk for the
        file's usual key order, then column-wise int()/float(): 1.1-2x faster than
        json.loads per line (float parsing dominates both). Lines with other keys (validation, odd lines) go through json.loads,
        unless many consecutive ones share a new key order (a resume without CUDA
        drops "memory"), which then gets a fast path of its own.
        """
        if self.shape is None:
            self.shape = learn_shape(data.split(b"\n", 64)[:64])
        if _orjson_loads is not None:
            return self._parse_orjson(data, first_line)
        if self.shape is None:
            return self._parse_slow(data.split(b"\n")[:-1], first_line)
        batches, bad, self.shape = self._parse_shaped(data, first_line, self.shape, depth=0)
        return batches, bad

    def _parse_orjson(self, data: bytes, first_line: int) -> tuple[list[ScalarBatch], int]:
        """Every line through orjson (json.loads for the lines orjson refuses), then
        runs of consecutive lines with the same keys turned into columns in C (zip)."""
        lines = data.split(b"\n")
        lines.pop()  # data ends with a newline
        try:
            rows = list(map(_orjson_loads, lines))
        except _OrjsonError:
            rows = list(map(_loads_one, lines))
        if all(rows) and set(map(type, rows)) == {dict}:  # the usual chunk: no odd line
            at, bad = range(len(rows)), 0
        else:
            kept = [(i, r) for i, r in enumerate(rows) if type(r) is dict and r]
            # Blank lines are skipped, not bad (as in _parse_slow).
            bad = len(rows) - len(kept) - sum(1 for line in lines if not line.strip())
            at, rows = [i for i, _ in kept], [r for _, r in kept]
        shapes = list(map(tuple, rows))
        # Where a run ends (the keys change, or a skipped line): the only per-line
        # Python loop, over booleans.
        if isinstance(at, range):
            cuts = [i + 1 for i, same in enumerate(map(tuple.__eq__, shapes, shapes[1:])) if not same]
        else:
            cuts = [i + 1 for i in range(len(rows) - 1)
                    if shapes[i] != shapes[i + 1] or at[i + 1] != at[i] + 1]
        batches: list[ScalarBatch] = []
        for a, b in zip([0, *cuts], [*cuts, len(rows)]):
            keys = shapes[a]
            cols = list(zip(*map(dict.values, rows[a:b])))
            # A run keeps numbers only (what consumers of a column expect); anything
            # else JSON allows comes out line by line, as parse_single would give it.
            if b - a == 1 or all(set(map(type, c)) <= _NUMBER_TYPES for c in cols):
                batches.append(ScalarBatch(keys, dict(zip(keys, map(list, cols))),
                                           self.index, first_line + at[a]))
            else:
                batches.extend(ScalarBatch(keys, {k: [v] for k, v in rows[i].items()},
                                           self.index, first_line + at[i]) for i in range(a, b))
        return batches, bad

    def _parse_shaped(self, data: bytes, first_line: int, shape: tuple[str, ...],
                      depth: int) -> tuple[list[ScalarBatch], int, tuple[str, ...]]:
        """Also returns the key order of the chunk's last lines, for the next chunk."""
        rows = _shape_pattern(shape).findall(data)
        others = [i for i, r in enumerate(rows) if not r[0]]
        batches: list[ScalarBatch] = []
        bad = 0
        last_shape = shape
        start = 0
        k = 0
        while start < len(rows):
            a = others[k] if k < len(others) else len(rows)
            b = a  # others[k .. ] that are consecutive: rows[a:b]
            while k < len(others) and others[k] == b:
                k += 1
                b += 1
            if a > start:
                run, nbad = self._run(shape, rows[start:a], first_line + start)
                batches.extend(run)
                bad += nbad
                last_shape = shape
            if b > a:
                lines = [r[-1] for r in rows[a:b]]
                new = learn_shape(lines[:64]) if b - a >= 8 and depth < 2 else None
                if new is not None and new != shape:
                    sub, nbad, last_shape = self._parse_shaped(
                        b"\n".join(lines) + b"\n", first_line + a, new, depth + 1)
                else:
                    sub, nbad = self._parse_slow(lines, first_line + a)
                batches.extend(sub)
                bad += nbad
            start = b
        return batches, bad, last_shape

    def _run(self, shape: tuple[str, ...], rows: list[tuple],
             first_line: int) -> tuple[list[ScalarBatch], int]:
        cols = list(zip(*rows))
        try:
            columns = {k: _convert_column(c) for k, c in zip(shape, cols)}
        except ValueError:
            # A value the regex let through but int()/float() refuse ("1.2.3"):
            # rare enough to redo row by row with JSON's own rules.
            return self._rows_one_by_one(shape, rows, first_line)
        return [ScalarBatch(shape, columns, self.index, first_line)], 0

    def _rows_one_by_one(self, shape: tuple[str, ...], rows: list[tuple],
                         first_line: int) -> tuple[list[ScalarBatch], int]:
        batches, bad = [], 0
        for i, r in enumerate(rows):
            try:
                values = [json.loads(v) for v in r[:-1]]
            except ValueError:
                bad += 1
                continue
            columns = {k: [v] for k, v in zip(shape, values)}
            batches.append(ScalarBatch(shape, columns, self.index, first_line + i))
        return batches, bad

    def _parse_slow(self, lines: list[bytes], first_line: int) -> tuple[list[ScalarBatch], int]:
        batches, bad = [], 0
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            single = parse_single(line, self.index, first_line + i)
            if single is None:
                bad += 1
            else:
                batches.append(single)
        return batches, bad
