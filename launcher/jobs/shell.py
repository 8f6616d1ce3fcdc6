"""Writing values into generated shell scripts (launch.sh, the SLURM batch script) safely.

Every value that reaches a script (a job name, a work dir, a partition, a time limit, a
python path, cfg-options) is user input. A newline or `$(...)` in one must stay data:
shell words are single-quoted (shlex), comments and #SBATCH directives are one line each
(bash ends a comment at a newline, and everything after it would run), and a directive's
value is written in the quoting sbatch's own parser understands (double quotes, backslash
escapes; an unescaped '#' would start a comment there).
"""

from __future__ import annotations

import re
import shlex
from typing import Iterable

from launcher.errors import UserError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_DIRECTIVE = re.compile(r"^[A-Za-z0-9._:,=@%/+-]+$")  # needs no quotes in sbatch's parser


def word(value: object) -> str:
    """One shell word, whatever VALUE holds."""
    return shlex.quote(str(value))


def words(values: Iterable[object]) -> str:
    return " ".join(word(v) for v in values)


def export(name: str, value: object) -> str:
    if not _ENV_NAME.match(name):
        raise UserError(f"not a valid environment variable name: {name!r}")
    return f"export {name}={word(value)}"


def exports(env: dict[str, str]) -> str:
    return "\n".join(export(k, v) for k, v in sorted(env.items()))


def comment(text: object) -> str:
    """A '# ...' line: control characters (a newline would end the comment) become '?'."""
    return "# " + _CONTROL.sub("?", str(text))


def one_line(value: object, what: str) -> str:
    """VALUE as text, refused (one-line error) if it holds a newline or another control character."""
    text = str(value)
    if _CONTROL.search(text):
        raise UserError(f"{what} must be one line without control characters, got {text!r}")
    return text


def directive(option: str, value: object) -> str:
    """`#SBATCH --option="value"`: sbatch groups quoted characters and honours backslash
    escapes (src/sbatch/opt.c, _get_argument); a newline cannot be written at all."""
    text = one_line(value, f"--{option}")
    if not _PLAIN_DIRECTIVE.match(text):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"#SBATCH --{option}={text}"
