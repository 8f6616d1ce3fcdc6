"""The frcnn-tui app: Home (GPUs + presets) -> Plan -> launch -> Monitor, and Jobs.

Two modes, each with its own screen stack: "home" (Home, Plan pushed on top) and
"jobs" (Jobs, Monitor pushed on top). The app owns the one GPU probe worker and
publishes each inventory on `inventory_changed`; screens subscribe and render.
Nothing here starts or stops a job except through launcher.jobs.backends, and quitting
never touches running jobs (detached process groups, or SLURM's).
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.signal import Signal

from launcher.planning.presets import PresetCatalog, load_presets
from tui.messages import InventoryProbed
from tui.threads import run_detached
from tui.screens.home import HomeScreen

if TYPE_CHECKING:
    from launcher.hardware.gpu_probe import Inventory

HISTORY = 120  # samples of utilisation/memory kept per GPU (4 minutes at 2 s)
NO_GPU_PROBE_S = 30.0  # no GPU seen (no NVML, no driver): re-probe this often instead of every probe_interval


def _styled_new(screen: Screen) -> Screen:
    """A mode's first screen, marked as styled with the app's current CSS.

    Textual refreshes the app's whole CSS when it opens a mode whose screen is older than
    the last CSS change, and a screen never mounted counts as older: so opening Home, before
    the first frame, parsed every stylesheet twice over (the refresh parses into a new
    stylesheet and drops the parse cache). A new screen is styled when it mounts, so only
    the one thing that refresh also did is kept: styling the app node itself first (Textual
    does that only after the first screen exists), since the screen's colours inherit from
    it. Theme changes still refresh every screen as before.
    """
    try:
        app = screen.app
    except Exception:  # no running app: nothing to skip
        return screen
    if hasattr(screen, "_css_update_count"):
        app.stylesheet.apply(app)
        screen._css_update_count = app._css_update_count
    return screen


def _home_screen() -> Screen:
    return _styled_new(HomeScreen())


def _jobs_screen() -> Screen:
    # Imported when the Jobs mode first opens: the registry and psutil are not needed for Home.
    from tui.screens.jobs import JobsScreen

    return _styled_new(JobsScreen())


def _probe() -> "Inventory":
    from launcher.hardware.gpu_probe import probe

    return probe()


class FrcnnApp(App[int]):
    """frcnn-tui. `clock` and `host` are injectable so snapshot tests are deterministic."""

    CSS_PATH = "app.tcss"
    TITLE = "frcnn-tui"
    MODES = {"home": _home_screen, "jobs": _jobs_screen}
    DEFAULT_MODE = "home"
    BINDINGS = [
        Binding("h", "show('home')", "Home", tooltip="GPUs and presets"),
        Binding("j", "show('jobs')", "Jobs", tooltip="All jobs, running and finished"),
        Binding("q", "quit", "Quit", tooltip="Quit (running jobs keep running)"),
        Binding("question_mark,f1", "help", "Help", show=False, tooltip="The keys of this screen"),
    ]

    def __init__(self, *, probe_interval: float | None = 2.0, jobs_interval: float | None = 5.0,
                 watch_interval: float = 2.0, clock: Callable[[], float] = time.time,
                 host: str | None = None, slurm: bool | None = None, events_interval: float | None = 2.0) -> None:
        super().__init__()
        self._slurm = slurm
        self.events_interval = events_interval  # every job's sentinel events as toasts (tui.event_toasts)
        self.probe_interval = probe_interval
        self.jobs_interval = jobs_interval
        # How often the Monitor reads its job's files: every poll that finds new lines repaints
        # the summary and log pane, so at the demo's rate (a line every ~1 s) 2 s halves that
        # cost against 1 s; metrics a few seconds old are as useful as fresh ones (nvitop's default is 2 s).
        self.watch_interval = watch_interval
        self.clock = clock
        self.host = host if host is not None else os.uname().nodename
        self.inventory: Inventory | None = None
        self._probed_at = float("-inf")  # monotonic time of the last probe started
        self.gpu_history: dict[int, tuple[deque[float], deque[float]]] = {}
        # Presets are TOML files (milliseconds); screens need them from their first frame.
        self.catalog: PresetCatalog = load_presets()
        self.inventory_changed: Signal[Inventory] = Signal(self, "inventory-changed")
        self.job_names: dict[str, str] = {}  # id -> name, for the command palette
        self.hung_up: str | None = None  # why the terminal was found gone (tui.hangup), if it was
        self._seen_events: Any = None  # tui.unread_events.SeenEvents, read when the Jobs screen first asks
        self.monitored: Any = None  # the record whose Monitor was opened last: seen again on leaving it

    @property
    def seen_events(self) -> Any:
        """What the user has seen of each job's events (the Jobs screen's unread mark)."""
        if self._seen_events is None:
            from tui.unread_events import SeenEvents

            self._seen_events = SeenEvents()
        return self._seen_events

    @property
    def slurm(self) -> bool:
        """Whether the Plan screen offers SLURM partitions: sbatch on PATH, unless pinned (tests
        pin it). Looked up when a Plan first asks, not before the first frame."""
        if self._slurm is None:
            from launcher.jobs.slurm import cluster

            self._slurm = cluster.available("sbatch")
        return self._slurm

    def on_load(self) -> None:
        # Start-up builds tens of thousands of long-lived objects (Textual's classes, styles,
        # the first screen's widgets) and next to no garbage: the cyclic GC's passes over them
        # before the first frame free nothing (~8 ms of CPU once Textual is imported, ~23 ms
        # from the interpreter's start: bench/findings.md). Paused until that frame is drawn
        # (tui/entry.py pauses it already before importing Textual).
        gc.disable()

    def on_unmount(self) -> None:
        gc.enable()  # an app stopped before its first frame never leaves the GC paused

    def _first_frame_drawn(self) -> None:
        gc.enable()
        self.probe_gpus()

    def on_mount(self) -> None:
        from tui import hangup

        self.sub_title = self.host
        hangup.watch(self)  # a dropped SSH session or closed pane ends the TUI, never spins it
        for err in self.catalog.errors:
            self.notify(str(err), title="Preset skipped", severity="warning", timeout=10)
        # The probe may be slow (NVML, or a hung driver): a worker, so the first frame never waits;
        # and started once that frame is drawn, so its import and NVML's start (tens of ms of CPU)
        # do not compete with it (the first frame says "Probing GPUs…" either way).
        self.call_after_refresh(self._first_frame_drawn)
        if self.probe_interval:
            self.set_interval(self.probe_interval, self._probe_tick)
        if self.events_interval:
            from tui import event_toasts

            event_toasts.start(self, self.events_interval)

    def _probe_tick(self) -> None:
        # Without any GPU (no NVML library, no driver) the answer does not change from one
        # probe to the next, and there is no utilisation to sample: ask less often.
        inv = self.inventory
        if inv is not None and not inv.gpus and time.monotonic() - self._probed_at < NO_GPU_PROBE_S:
            return
        self.probe_gpus()

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def probe_gpus(self) -> None:
        self._probed_at = time.monotonic()
        self.post_message(InventoryProbed(await run_detached(_probe)))

    def on_inventory_probed(self, message: InventoryProbed) -> None:
        inv = message.inventory
        self.inventory = inv
        for gpu in inv.gpus:
            util, mem = self.gpu_history.setdefault(gpu.index, (deque(maxlen=HISTORY), deque(maxlen=HISTORY)))
            util.append(float(gpu.utilization_pct or 0))
            if gpu.memory_total_mib:
                mem.append(100.0 * (gpu.memory_used_mib or 0) / gpu.memory_total_mib)
        self.inventory_changed.publish(inv)

    def _job_starting(self, then: str) -> bool:
        """Whether a launch or resume is starting a job (said in a toast): it starts a detached
        job, then registers it, and its screen shows the result; never leave between the two."""
        from tui.job_actions import STARTING

        if any(w.group == STARTING and w.is_running for w in self.workers):
            self.notify(f"A launch or resume is in progress: {then} again once it is done.", severity="warning")
            return True
        return False

    async def action_quit(self) -> None:
        if not self._job_starting("quit"):
            self.exit(0)

    def action_help(self) -> None:
        """? and F1: Textual's key list for the focused screen (as ctrl+p → Keys), or away again."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    # -- navigation used by screens and the command palette ------------------

    def action_show(self, mode: str) -> None:
        """Home or the Jobs list itself, from any screen: a mode's stack keeps the Plan or
        Monitor pushed on it, so switching to the mode alone would show that screen again
        (or nothing, from within the mode). Leaving a Plan or Monitor never touches a job."""
        if isinstance(self.screen, ModalScreen) or self._job_starting(f"press {mode[0]}"):
            return  # a dialog waits for its answer (y/n, escape) first
        if self.current_mode != mode:
            self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def open_plan(self, preset_name: str) -> None:
        from tui.screens.plan import PlanScreen

        if preset_name not in self.catalog.presets:
            self.notify(f"unknown preset {preset_name}", severity="error")
            return
        self.switch_mode("home")
        if isinstance(self.screen, PlanScreen):
            self.pop_screen()
        self.push_screen(PlanScreen(self.catalog.presets[preset_name]))

    def open_monitor(self, record: Any) -> None:
        from tui.screens.monitor import MonitorScreen

        self.switch_mode("jobs")
        if isinstance(self.screen, MonitorScreen):
            self.pop_screen()
        self.push_screen(MonitorScreen(record))
        self.monitored = record
        self.seen_events.mark_seen(record, self.job_names or None)  # its Monitor shows the last event

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Home", "GPUs and presets", lambda: self.action_show("home"))
        yield SystemCommand("Jobs", "All jobs: monitor, stop, resume, compare", lambda: self.action_show("jobs"))
        for name, preset in sorted(self.catalog.presets.items()):
            yield SystemCommand(f"Plan {name}", preset.description, lambda n=name: self.open_plan(n))
        for job_id, name in sorted(self.job_names.items(), reverse=True):
            yield SystemCommand(f"Monitor {job_id} ({name})", "Open the job's loss / lr / mAP monitor",
                                lambda j=job_id: self._monitor_by_id(j), discover=False)
        commands = getattr(screen, "screen_commands", None)
        if commands:
            yield from commands()
        yield from super().get_system_commands(screen)

    def _monitor_by_id(self, job_id: str) -> None:
        from launcher.jobs import registry
        from launcher.errors import UserError

        try:
            self.open_monitor(registry.find(job_id))
        except UserError as exc:
            self.notify(str(exc), severity="error")


def run_app() -> int:
    result = FrcnnApp().run()
    return result if isinstance(result, int) else 0
