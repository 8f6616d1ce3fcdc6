"""Where a plan runs: this host, or a SLURM partition. Shown only where sbatch is on PATH (app.slurm).

The partitions come from sinfo in a thread (a slow controller never blocks the screen). With a
partition chosen, the Device picker's choice becomes the per-node shape of the SLURM job: its
CPU workers are the CPU form's tasks, its GPU count (or the GPUs/node field, for a login node
without GPUs) the GPU form's tasks per node. What that means for the lr is the core's business.
A second row, shown with a partition, takes what sbatch asks beyond the shape: the time limit
(checked against the partition's by the checklist), the account and the QOS.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select

from launcher.jobs.slurm import cluster
from launcher.jobs.slurm.script import SlurmSpec
from launcher.planning.request import PlanRequest
from tui.form import whole_number
from tui.threads import run_detached

HERE = "here"


class SlurmTarget(Vertical):
    def compose(self) -> ComposeResult:
        with Horizontal(id="slurm-where"):
            yield Label("run on ")
            yield Select([("this host", HERE)], value=HERE, allow_blank=False, id="target", compact=True)
            yield Label(" GPUs/node ", id="slurm-gpus-label")
            yield Input(id="slurm-gpus", type="integer", placeholder="picked", compact=True)
        with Horizontal(id="slurm-limits"):
            yield Label("time ")
            yield Input(id="slurm-time", placeholder="default", compact=True)
            yield Label(" account ")
            yield Input(id="slurm-account", placeholder="default", compact=True)
            yield Label(" qos ")
            yield Input(id="slurm-qos", placeholder="default", compact=True)

    def on_mount(self) -> None:
        self._show_gpus(False)
        self._load_partitions()

    @work(exclusive=True, group="slurm-partitions", exit_on_error=False)
    async def _load_partitions(self) -> None:
        self._fill(await run_detached(cluster.partition_names))  # sinfo may hang on a sick controller

    def _fill(self, names: list[str]) -> None:
        select = self.query_one("#target", Select)
        select.set_options([("this host", HERE)] + [(f"SLURM: {name}", name) for name in names])
        select.value = HERE

    def _show_gpus(self, show: bool) -> None:
        for widget_id in ("#slurm-gpus-label", "#slurm-gpus", "#slurm-limits"):
            self.query_one(widget_id).display = show

    def on_select_changed(self, event: Select.Changed) -> None:
        self._show_gpus(self.partition is not None)  # the event bubbles on: the screen re-plans

    @property
    def partition(self) -> str | None:
        value = self.query_one("#target", Select).value
        return None if value in (HERE, Select.BLANK) else str(value)

    def spec(self, req: PlanRequest) -> SlurmSpec | None:
        """None for this host; else the SLURM job's shape, with REQ's devices made per node
        (a count of GPUs, not this host's ids). ValueError (one line) on a bad GPUs/node."""
        if self.partition is None:
            return None
        gpus = whole_number(self.query_one("#slurm-gpus", Input).value, "GPUs per node", None, 1)
        if gpus is not None:
            req.cpu, req.nproc, req.gpu_ids, req.gpus = False, None, None, gpus
        elif req.gpu_ids is not None:
            req.gpus, req.gpu_ids = len(req.gpu_ids), None
        return SlurmSpec(partition=self.partition, nodes=req.nodes, cpu=req.cpu,
                         tasks_per_node=(req.nproc or 1) if req.cpu else req.gpus,
                         time=self._text("#slurm-time"), account=self._text("#slurm-account"),
                         qos=self._text("#slurm-qos"))

    def _text(self, widget_id: str) -> str | None:
        """A limit as typed, None when blank (sbatch's default). The time's format is the
        checklist's to judge (slurm-time), so that it says what a valid one looks like."""
        return self.query_one(widget_id, Input).value.strip() or None
