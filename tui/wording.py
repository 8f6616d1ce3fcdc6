"""The core's messages in the TUI's words.

launcher/ speaks to the CLI's user, so its refusals and the checklist's fixes name flags
("--nodes > 1 needs --master-addr HOST", "or --force to keep it"). On the Plan screen the
same things are fields and keys (the "master host:port" field, ctrl+f): `tui_words` rewrites
a message from launcher/ for display here, and the CLI keeps its flag wording.
"""

from __future__ import annotations

import re

# Whole phrases first, where the sentence changes with the words.
_PHRASES = (
    ("--nodes > 1 needs --master-addr HOST and --port PORT", "nodes > 1 needs the master host:port field"),
    ("or --force to keep it", "or ctrl+f (Force launch…) to keep it"),
    ("or --force)", "or ctrl+f to force)"),
    ("pass --seed 0 (add --deterministic for bit-exact runs", "type 0 in the seed field (add "
     "randomness.deterministic=True to cfg-options for bit-exact runs"),
    ("--deterministic makes", "randomness.deterministic=True (in cfg-options) makes"),
    ("drop --cpu to use the GPUs", "untick CPU to use the GPUs"),
    ("pick other GPUs with --gpu-ids", "tick other GPUs"),
    ("pick free GPUs with --gpu-ids", "tick free GPUs"),
    ("plan with --cpu to train on CPU", "tick CPU to train on CPU"),
    ("omit --port to pick a free one", "clear the master field to pick a free port"),
    ("use --gpus N or --gpu-ids LIST, not both", "tick the GPUs to use"),
    ("drop --lr to use", "clear lr override to use"),
)
# Then any flag left, by the name of its field on the Plan screen.
_FIELDS = {
    "--master-addr": "the master host:port field",
    "--port": "the port in the master host:port field",
    "--node-rank": "node rank",
    "--nodes": "nodes",
    "--imgs-per-gpu": "imgs/GPU",
    "--lr": "lr override",
    "--seed": "seed",
    "--data-root": "data root",
    "--cfg-options": "cfg-options",
    "--gpu-ids": "the GPU list",
    "--gpus": "the GPU list",
    "--nproc": "gloo workers",
    "--cpu": "CPU (gloo workers)",
    "--force": "ctrl+f",
    # The SLURM target rows (tui/widgets/slurm_target.py).
    "--partition": "run on",
    "--gpus-per-node": "GPUs/node",
    "--time": "time",
    "--account": "account",
    "--qos": "qos",
}
_FLAG = re.compile(r"--[a-z][a-z-]*(?![a-z-])( [A-Z]+\b)?")


def tui_words(text: str) -> str:
    """TEXT (a message from launcher/) with the CLI's flags as the TUI's fields and keys."""
    for cli, tui in _PHRASES:
        text = text.replace(cli, tui)

    def field(match: re.Match) -> str:
        name = match.group(0).split(" ")[0]
        return _FIELDS.get(name, match.group(0))

    return _FLAG.sub(field, text)
