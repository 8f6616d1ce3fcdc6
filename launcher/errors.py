"""The one exception type that becomes a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user (a flag, a preset, a job name): shown as one line, exit 2."""

    exit_code = 2


class CheckFailed(UserError):
    """A refusal that is not bad usage (failing checklist, busy GPUs): exit 1."""

    exit_code = 1
