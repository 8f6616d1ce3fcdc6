"""Plan: pick GPUs (or CPU workers), nodes and images per GPU; the lr and its formula follow as you
type (launcher.planning.preview: make_plan's own fast part, so the screen shows the lr that launches);
the checklist comes from make_plan in a worker.

Launch is refused while a check fails; ctrl+f forces it after a confirmation.
"""

from __future__ import annotations

import shlex

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Input, Label, Select, SelectionList, Static

from launcher.planning.checklist import FAIL, WAITING, WARN
from launcher.errors import UserError
from launcher.hardware.gpu_probe import Inventory
from launcher.planning.lr_scaling import LrProposal
from launcher.planning.plan import Plan, PlanRequest
from launcher.planning.preview import PlanPreview, preview
from launcher.planning.presets import Preset
from launcher.stack import setup_status
from tui.form import whole_number
from tui.format import styled
from tui.job_actions import STARTING
from tui.messages import LaunchDone, LaunchFailed, PlanFailed, PlanReady
from tui.screens import plan_text
from tui.screens.dialogs import ConfirmDialog, TextDialog
from tui.styles import use_styles
from tui.threads import run_detached
from tui.widgets.device_picker import DevicePicker
from tui.widgets.key_bar import KeyBar
from tui.widgets.slurm_target import SlurmTarget
from tui.widgets.tables import fill_width
from tui.widgets.title_bar import TitleBar
from tui.wording import tui_words

DEBOUNCE_S = 0.6  # make_plan costs seconds: wait until the typing stops
SETUP_POLL_S = 3.0  # how often a checklist waiting for the training stack looks at its set-up


class PlanScreen(Screen):
    # The device choice first (not the first Input): arrows and space work at once.
    AUTO_FOCUS = "#gpu-select, #nproc"
    BINDINGS = [
        Binding("ctrl+l", "launch", "Launch", priority=True, tooltip="Launch if no check fails"),
        Binding("ctrl+f", "force_launch", "Force launch…", priority=True,
                tooltip="Launch despite failing checks (asks first)"),
        Binding("ctrl+r", "recheck", "Re-check", priority=True),
        # ctrl, as the form's fields take plain letters; the delete key still deletes to the right in them.
        Binding("ctrl+d", "dataset", "Dataset", priority=True,
                tooltip="Your own data: its classes, problems and boxes (tui/screens/dataset.py)"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, preset: Preset) -> None:
        super().__init__()
        use_styles(self, "plan")
        self.preset = preset
        self.proposal: LrProposal | None = None
        self.preview: PlanPreview | None = None  # the lr view's; with the plan, it says what will run
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self.generation = 0  # bumped on every change; a plan for an older request is dropped
        self.planned_generation = -1
        self.launching = False
        self._timer: Timer | None = None
        self._setup_timer: Timer | None = None  # follows the training stack's set-up while checks wait for it
        self.slurm_spec = None  # a SlurmSpec while a SLURM partition is the target (set by build_request)

    # -- layout ---------------------------------------------------------------

    def compose(self) -> ComposeResult:
        p = self.preset
        yield TitleBar()
        yield Static(Content.from_markup("[b]$name[/] $desc", name=p.name, desc=p.description), id="plan-title")
        with Horizontal(id="plan-top"):
            yield DevicePicker(p.default_cpu_workers, id="devices")
            with Vertical(id="settings"):
                if self.app.slurm:
                    yield SlurmTarget(id="slurm-target")
                with Grid(id="fields"):
                    yield Label("nodes")
                    yield Input("1", id="nodes", type="integer", compact=True)
                    yield Label("imgs/GPU", id="imgs-label")
                    yield Input(str(p.imgs_per_gpu), id="imgs", type="integer", compact=True)
                    yield Label("lr override")
                    yield Input(id="lr", type="number", placeholder="none", compact=True)
                    yield Label("seed")
                    yield Input(id="seed", type="integer", placeholder="random", compact=True)
                    yield Label("node rank")
                    yield Input("0", id="node-rank", type="integer", compact=True)
                    yield Label("master")
                    yield Input(id="master", placeholder="host:port", compact=True)
                    yield Label("data root")
                    generated = p.dataset == "synthetic-shapes"
                    yield Input(id="data-root", placeholder="generated (synthetic shapes)" if generated else p.data_root,
                                compact=True, classes="wide")
                    yield Label("cfg-options")
                    yield Input(id="cfg", placeholder="key=value …",
                                compact=True, classes="wide")
                    yield Label("notify")  # apprise URLs are secrets: masked like a password
                    yield Input(id="notify", placeholder="apprise URL(s): ntfy://topic json://host/ …", password=True,
                                compact=True, classes="wide")
                yield Static(id="lr-view")
        with Vertical(id="checks-box"):
            yield DataTable(id="checklist", cursor_type="row")
            yield Static(id="check-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#settings").border_title = "Batch and lr"
        self.query_one("#checks-box").border_title = "Checklist"
        table = self.query_one("#checklist", DataTable)
        table.add_column("", key="status", width=4)
        table.add_column("check", key="id", width=9)
        table.add_column("detail", key="detail")
        self.app.inventory_changed.subscribe(self, self._on_inventory)
        if self.app.inventory is not None:
            self._on_inventory(self.app.inventory)

    def on_resize(self) -> None:
        fill_width(self.query_one("#checklist", DataTable), "detail")

    # -- devices --------------------------------------------------------------

    @property
    def devices(self) -> DevicePicker:
        return self.query_one("#devices", DevicePicker)

    @property
    def cpu(self) -> bool | None:
        """Whether the form plans CPU workers; None until the inventory is known."""
        pickers = self.query(DevicePicker)  # none before the screen is composed
        return pickers.first().cpu if pickers else None

    def _on_inventory(self, inv: Inventory) -> None:
        if self.devices.inventory is not None:
            return  # the choice the user is editing stays put; the checklist re-reads GPUs on re-check
        self.devices.show_inventory(inv)
        self._device_kind_changed()

    @on(Checkbox.Changed, "#use-cpu")
    def _device_kind_changed(self) -> None:
        self.query_one("#imgs-label", Label).update("imgs/worker" if self.cpu else "imgs/GPU")
        self.changed()

    # -- the request, the live lr ----------------------------------------------

    def _notify_targets(self) -> list[str]:
        """The notify field's URLs (space-separated); a bad one is named by its redacted form only."""
        from launcher.sentinel.notify import check_url

        try:
            return [check_url(url) for url in self._value("notify").split()]
        except UserError as exc:
            raise ValueError(str(exc).replace("--notify takes", "notify takes")) from None

    def _data_fields(self) -> dict[str, str | None]:
        """The data field: your own export (Roboflow's, annotations/) is planned as --data, with its classes
        and the `dataset` check; anything else as --data-root (COCO's tree), as before."""
        from launcher.data.layout import is_own_data

        value = self._value("data-root") or None
        return {"data": value} if value and is_own_data(value) else {"data_root": value}

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _int(self, widget_id: str, name: str, default: int | None, minimum: int | None = None) -> int | None:
        return whole_number(self._value(widget_id), name, default, minimum)

    def selected_gpus(self) -> list[int]:
        return self.devices.selected_gpus()

    def build_request(self) -> PlanRequest:
        """The request the form describes; ValueError (one line) when it cannot be one."""
        p = self.preset
        lr_text = self._value("lr")
        try:
            lr = float(lr_text) if lr_text else None
        except ValueError:
            raise ValueError(f"lr must be a number, got {lr_text!r}") from None
        master, port = None, None
        if self._value("master"):
            host, _, port_text = self._value("master").rpartition(":")
            if not host or not port_text.isdigit():
                raise ValueError(f"master must be HOST:PORT, got {self._value('master')!r}")
            master, port = host, int(port_text)
        try:
            cfg = shlex.split(self._value("cfg"))
        except ValueError as exc:
            raise ValueError(f"cfg-options: {exc}") from None
        req = PlanRequest(preset=p.name, nodes=self._int("nodes", "nodes", 1, 1), imgs_per_gpu=self._int(
            "imgs", "images per GPU", p.imgs_per_gpu, 1), lr=lr, seed=self._int("seed", "seed", None),
            node_rank=self._int("node-rank", "node rank", 0), master_addr=master, port=port, cfg_options=cfg,
            notify=self._notify_targets(), **self._data_fields())
        self.devices.fill(req)
        targets = self.query(SlurmTarget)
        self.slurm_spec = targets.first().spec(req) if targets else None
        return req

    @on(Input.Changed)
    @on(SelectionList.SelectedChanged)
    @on(Select.Changed)
    def changed(self) -> None:
        if self.cpu is None:
            return
        self.generation += 1
        view = self.query_one("#lr-view", Static)
        try:
            req = self.build_request()
            pv = preview(req, inventory=self.app.inventory, catalog=self.app.catalog)
        except (ValueError, UserError) as exc:
            self.proposal = None
            view.update(Content.from_markup("[bold $error]$e[/]", e=tui_words(str(exc))))
            self._show_checks_pending(tui_words(str(exc)), error=True)
            return
        self.proposal, self.preview = pv.proposal, pv
        view.update(plan_text.lr_preview(pv))
        self._schedule_plan()

    # -- the checklist (make_plan, in a worker) ----------------------------------

    def _schedule_plan(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._show_checks_pending("checking… (resolving the config in the training interpreter)")
        self._timer = self.set_timer(DEBOUNCE_S, self._start_plan)

    def _start_plan(self) -> None:
        try:
            req = self.build_request()
        except ValueError:
            return
        # The GPUs as probed now (the list on screen keeps the user's choice; the checks see today's state).
        self._plan_worker(self.generation, req, self.app.inventory, self.slurm_spec)

    @work(exclusive=True, group="plan", exit_on_error=False)
    async def _plan_worker(self, generation: int, req: PlanRequest, inventory: Inventory | None, slurm) -> None:
        from launcher.jobs import backends

        try:
            # SLURM's plans for its allocation, with the cluster's checks; this host's for its GPUs.
            plan = await run_detached(backends.backend_for(slurm).plan, req, slurm, inventory=inventory,
                                      catalog=self.app.catalog, dump=False)
        except UserError as exc:
            self.post_message(PlanFailed(generation, tui_words(str(exc))))
        except Exception as exc:  # a bug below us must not take the UI down
            self.post_message(PlanFailed(generation, f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(PlanReady(generation, plan))

    def action_recheck(self) -> None:
        self.app.probe_gpus()  # the checklist re-reads the GPUs too
        if self.proposal is not None:
            self.generation += 1
            self._schedule_plan()

    def _show_checks_pending(self, text: str, error: bool = False) -> None:
        self.plan, self.plan_error = None, text if error else None
        box = self.query_one("#checks-box")
        box.border_title = "Checklist"
        box.border_subtitle = ""
        table = self.query_one("#checklist", DataTable)
        table.clear()
        self.query_one("#check-detail", Static).update(
            Content.from_markup("[bold $error]$t[/]" if error else "[dim]$t[/]", t=text))

    def on_plan_failed(self, message: PlanFailed) -> None:
        if message.generation != self.generation:
            return
        self._show_checks_pending(message.error, error=True)

    def on_plan_ready(self, message: PlanReady) -> None:
        if message.generation != self.generation:
            return
        plan = self.plan = message.plan
        self.planned_generation = message.generation
        if self.preview is not None:  # the resolved config's lr and schedule, --cfg-options included
            self.query_one("#lr-view", Static).update(plan_text.lr_preview(self.preview, plan.what_runs))
        table = self.query_one("#checklist", DataTable)
        table.clear()
        for c in self.shown_checks:
            table.add_row(styled(self.app, c.status.upper(), c.status), c.id, tui_words(c.detail), key=c.id)
        counts = {s: sum(c.status == s for c in plan.checks) for s in ("pass", "warn", "fail", WAITING)}
        box = self.query_one("#checks-box")
        style = {"pass": "$success", "warn": "$warning", "fail": "$error", WAITING: "$accent"}[plan.status]
        box.border_title = f"Checklist: [bold {style}]{plan.status.upper()}[/]"
        waiting = f" · {counts[WAITING]} waiting" if counts[WAITING] else ""
        box.border_subtitle = (f"{counts['pass']} pass · {counts['warn']} warn · {counts['fail']} fail{waiting}"
                               " · enter: full text")
        self._follow_setup(plan)
        self.refresh_bindings()  # Launch is offered, or dimmed while the checks wait for the stack
        # A blank seed means the config's own: say which (the demo's config sets 0), not "random";
        # short, as a placeholder wider than the field wraps and shows only its first word.
        config_seed = plan.resolved.get("seed")
        self.query_one("#seed", Input).placeholder = "random" if config_seed is None else f"{config_seed} (cfg)"
        table.move_cursor(row=0)  # the worst check: its detail and fix show below the table
        self._show_check(0)

    def _follow_setup(self, plan: Plan) -> None:
        """While the training stack is set up in the background, look at it every few seconds and plan
        again when it moves on (the waiting rows say how far it is) or ends (the real checks run)."""
        if self._setup_timer is not None:
            self._setup_timer.stop()
            self._setup_timer = None
        if not any(c.status == WAITING for c in plan.checks):
            return
        seen = setup_status.pending(plan.python)
        seen_key = seen and (seen.state, seen.doing)

        def look() -> None:
            now = setup_status.pending(plan.python)
            if (now and (now.state, now.doing)) != seen_key and self.planned_generation == self.generation:
                self._setup_timer.stop()  # once: the new plan follows on (a second start would cancel it)
                self._setup_timer = None
                self._start_plan()

        self._setup_timer = self.set_interval(SETUP_POLL_S, look)

    @property
    def shown_checks(self) -> list:
        """The checklist as the table lists it: failing checks first, then warnings, then the
        rest, each in the checklist's order. On a 24-line terminal the table shows four rows:
        the ones that stop a launch must be among them."""
        rank = {FAIL: 0, WAITING: 1, WARN: 1}
        return sorted(self.plan.checks, key=lambda c: rank.get(c.status, 2)) if self.plan else []

    def _show_check(self, row: int) -> None:
        checks = self.shown_checks
        if not 0 <= row < len(checks):
            return
        c = checks[row]
        fix = c.hint if c.status != "pass" else ""
        self.query_one("#check-detail", Static).update(Content.from_markup(
            "[b]$id[/]: $detail" + ("\n[bold $warning]fix:[/] $hint" if fix else ""),
            id=c.id, detail=tui_words(c.detail), hint=tui_words(fix or "")))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_check(event.cursor_row)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        checks = self.shown_checks
        if not 0 <= event.cursor_row < len(checks):
            return
        c = checks[event.cursor_row]
        body = Content.from_markup("[b]$status[/] $detail" + ("\n\n[bold $warning]fix:[/] $hint" if c.hint else ""),
                                   status=c.status.upper(), detail=tui_words(c.detail), hint=tui_words(c.hint or ""))
        self.app.push_screen(TextDialog(f"check: {c.id}", body))

    # -- launch -----------------------------------------------------------------

    def _failing(self) -> list[str]:
        if self.plan is None or self.planned_generation != self.generation:
            return []
        return [f"{c.id}: {tui_words(c.detail)}" for c in self.plan.checks if c.status == FAIL]

    def _waiting_for_stack(self) -> bool:
        """Launch is not offered while the training stack is being set up (its keys are dimmed); from the
        command palette, a toast says why."""
        waiting = [c for c in self.plan.checks if c.status == WAITING] if self.plan else []
        if waiting:
            self.notify(f"{waiting[0].detail}: the checklist runs again by itself when it is ready; launch then.",
                        title="Launch waits", severity="warning", timeout=8)
        return bool(waiting)

    def _launchable_request(self) -> PlanRequest | None:
        """The request to launch, or None (already launching, or bad input: said in a toast)."""
        if self.launching:
            return None
        try:
            return self.build_request()
        except ValueError as exc:
            self.notify(str(exc), title="Cannot launch", severity="error")
            return None

    def action_launch(self) -> None:
        if self._waiting_for_stack() or (req := self._launchable_request()) is None:
            return
        failing = self._failing()
        if failing:
            self.notify(f"{len(failing)} check(s) fail: {', '.join(f.split(':')[0] for f in failing)}. "
                        "Fix them, or ctrl+f to force.", title="Launch refused", severity="error", timeout=8)
            return
        self._launch(req, force=False)

    def action_force_launch(self) -> None:
        if self._waiting_for_stack() or (req := self._launchable_request()) is None:
            return
        failing = self._failing()
        lines = failing or ["(the checklist has not finished; launch re-checks and forces past any failure)"]
        body = Content.from_markup("Launch [b]$preset[/] even though these checks fail? The run may not "
                                   "reproduce the reference.\n\n$fails", preset=self.preset.name,
                                   fails="\n".join(f"• {f}" for f in lines))

        def answer(yes: bool | None) -> None:
            if yes:
                self._launch(req, force=True)

        self.app.push_screen(ConfirmDialog("Force launch?", body, confirm="Launch anyway"), answer)

    def _launch(self, req: PlanRequest, force: bool) -> None:
        self.launching = True
        self.query_one("#check-detail", Static).update(
            Content.from_markup("[bold $accent]launching… (re-checking, then starting torchrun detached)[/]"))
        self._launch_worker(req, force, self.slurm_spec)

    # An ordinary thread worker, not a detached one: quitting waits for it, so a launch is never
    # cut between starting the job and registering it.
    @work(thread=True, exclusive=True, group=STARTING, exit_on_error=False)
    def _launch_worker(self, req: PlanRequest, force: bool, slurm) -> None:
        from launcher.jobs import backends

        try:
            record, _plan = backends.backend_for(slurm).launch(req, slurm, force=force)  # slurm None: this host
        except UserError as exc:  # CheckFailed included: one line, shown, not raised
            self.post_message(LaunchFailed(tui_words(str(exc))))
        except Exception as exc:
            self.post_message(LaunchFailed(f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(LaunchDone(record))

    def on_launch_failed(self, message: LaunchFailed) -> None:
        self.launching = False
        self.query_one("#check-detail", Static).update(
            Content.from_markup("[bold $error]$e[/]", e=message.error))
        self.notify(message.error, title="Launch failed", severity="error", timeout=10)

    def on_launch_done(self, message: LaunchDone) -> None:
        self.launching = False
        record = message.record
        from launcher.jobs import backends

        self.notify(f"job {record.id} started ({backends.where(record)}); it keeps running if you quit.", title="Launched")
        self.dismiss()
        self.app.open_monitor(record)

    def action_dataset(self) -> None:
        data = self._data_fields().get("data")
        if not data:
            self.notify("type the folder of your own export (Roboflow, annotations/) in the data field first",
                        title="No dataset", severity="warning")
            return
        from tui.screens.dataset import DatasetScreen

        self.app.push_screen(DatasetScreen(data))

    def action_back(self) -> None:
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Launch is offered once the training stack is ready: dimmed (None) while the checks wait for it.
        if action in ("launch", "force_launch") and self.plan is not None:
            return None if any(c.status == WAITING for c in self.plan.checks) else True
        return True

    def screen_commands(self):
        from textual.app import SystemCommand

        yield SystemCommand("Launch", f"Launch {self.preset.name} (refused while a check fails)", self.action_launch)
        yield SystemCommand("Force launch", "Launch despite failing checks (asks first)", self.action_force_launch)
        yield SystemCommand("Re-check", "Run the checklist again", self.action_recheck)
