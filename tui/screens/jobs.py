"""Jobs: every job in the registry (running and finished); monitor, stop, resume, compare.

Rows come from launcher.jobs.summary (status derived by the registry, progress and
best mAP from the metrics module), loaded in a worker so a slow disk never blocks.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from launcher.jobs import backends, status_words
from tui.format import ago_minutes, ap, styled
from tui.job_actions import ask_remove, ask_stop, start_report, start_resume
from tui.messages import JobActionDone, JobsLoaded
from tui.styles import use_styles
from tui.threads import run_detached
from tui.visibility import screen_visible
from tui.widgets.key_bar import KeyBar
from tui.widgets.tables import WindowTable
from tui.widgets.title_bar import TitleBar

MARK = "●"
# Rows built in the table at once: a screenful many times over, a small part of ten thousand jobs
# (tui.widgets.tables.WindowTable); the window moves with the cursor.
WINDOW = 120


def load_job_rows(job_list: Any) -> tuple[list[tuple[Any, dict]], list[str]]:
    """(record, summary row) for every job, newest first, and the registry's warnings, from
    ``job_list`` (launcher.jobs.summary.JobList: live jobs followed, finished ones kept)."""
    warnings: list[str] = []
    jobs = job_list.refresh(warnings.append)
    jobs.reverse()
    return jobs, warnings


def _preload_monitor() -> None:
    """Imports the Monitor's modules (the watcher, the metrics code, plotext: ~0.2 s of CPU on
    a slow box) while the user reads the job list, so opening a monitor does not wait for them."""
    try:
        import tui.screens.monitor  # noqa: F401
    except Exception:  # opening the monitor imports it again and says what is wrong
        pass


def status_text(row: dict) -> str:
    """The status cell: ours, with a stall or the rank that failed first, and for a SLURM job
    waiting in the queue, SLURM's reason."""
    from launcher.jobs.summary import status_note

    if row["status"] == status_words.PENDING and row.get("slurm_reason"):
        return f"{row['status']} ({row['slurm_reason']})"
    note = status_note(row)
    return f"{row['status']} ({note})" if note else row["status"]


def matches(record: Any, row: dict, words: list[str]) -> bool:
    """The filter line: every word (lower case) in the job's id, name, preset or status."""
    text = f"{record.id} {row['name']} {row['preset']} {status_text(row)}".lower()
    return all(word in text for word in words)


def best_text(row: dict) -> str:
    if row.get("best_map") is None:
        return "-"
    return f"{ap(row['best_map'])} (ep {row.get('best_epoch')})"


class JobsScreen(Screen):
    AUTO_FOCUS = "#jobs"  # the table, not the (hidden) filter line above it
    BINDINGS = [
        Binding("m", "open", "Monitor", tooltip="Open the highlighted job's monitor (also enter)"),
        Binding("s", "stop", "Stop…"),
        Binding("r", "resume", "Resume"),
        Binding("space", "mark", "Mark", tooltip="Mark runs to compare"),
        Binding("c", "compare", "Compare"),
        Binding("w", "report", "Report", tooltip="Write the highlighted job's reproduction report (report.md + charts)"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("slash", "filter", "Filter", show=False, tooltip="Filter the jobs by name, preset or status"),
        Binding("delete", "remove", "Remove…", show=False,
                tooltip="Remove the highlighted finished job (asks first)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        use_styles(self, "jobs")
        self.jobs: dict[str, tuple[Any, dict]] = {}
        self.marked: set[str] = set()
        self.loaded = False
        self._job_list: Any = None  # live jobs followed, finished ones kept, across refreshes
        self._shown: dict[str, tuple[tuple, str]] = {}  # job id -> (its cells, its start) as last written
        self._detail: Content | str | None = None  # the detail line, as last written
        self._all: list[tuple[Any, dict]] = []  # every job, newest first, as last loaded
        self._start = 0  # the table's first row: this index in the jobs the filter line selects
        self._filter: list[str] = []  # the filter line's words
        # job id -> (row, (marked, its unread events), its cells)
        self._cell_cache: dict[str, tuple[dict, tuple[bool, str], tuple]] = {}

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="jobs-box"):
            yield Input(placeholder="filter: words of a name, preset or status (esc: clear)", id="jobs-filter",
                        compact=True)
            yield WindowTable(id="jobs", cursor_type="row")
            yield Static(id="job-detail")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#jobs-box").border_title = "Jobs (enter: monitor, /: filter)"
        table = self.query_one("#jobs", DataTable)
        table.add_column(" ", key="mark", width=1)
        # The name the user gave right after the id: on 80 columns the last columns are cut.
        for key in ("id", "name", "status", "preset", "progress", "best mAP", "ref", "devices", "started"):
            table.add_column(key, key=key)
        self.query_one("#job-detail", Static).update("Loading jobs…")
        self.action_refresh()
        if self.app.jobs_interval:
            self.set_interval(self.app.jobs_interval, self._tick)

    def on_screen_resume(self) -> None:
        monitored, self.app.monitored = self.app.monitored, None
        if monitored is not None:  # back from its Monitor: what came while it was open was seen there
            self.app.seen_events.mark_seen(monitored, self.jobs or None)
        if self.loaded:
            self.action_refresh()

    def _tick(self) -> None:
        # Not while the monitor (or compare) covers this screen: reloading every job's row
        # re-reads each run's metrics. Coming back (screen resume) reloads at once.
        if screen_visible(self):
            self.action_refresh()

    def action_refresh(self) -> None:
        self._load()

    @work(exclusive=True, group="jobs", exit_on_error=False)
    async def _load(self) -> None:
        try:
            if self._job_list is None:
                from launcher.jobs.summary import JobList

                self._job_list = JobList()
            jobs, warnings = await run_detached(load_job_rows, self._job_list)
        except Exception as exc:  # never stay on "Loading jobs…": say what failed
            jobs, warnings = [], [f"could not read the job registry: {type(exc).__name__}: {exc}"]
        self.post_message(JobsLoaded(jobs, warnings))

    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        for w in message.warnings:
            self.notify(w, title="Registry", severity="warning", timeout=10)
        if not self.loaded:  # not at start-up, nor before the list shows: after its first frame
            self.call_after_refresh(lambda: self.run_worker(run_detached(_preload_monitor), group="preload-monitor",
                                                            exit_on_error=False))
        self.loaded = True
        self.jobs = {record.id: (record, row) for record, row in message.jobs}
        self.app.job_names = {job_id: record.name for job_id, (record, _) in self.jobs.items()}
        self.marked &= set(self.jobs)
        self._all = message.jobs
        if self._job_list is not None and self._job_list.provisional:
            # Kept rows were shown as kept: check them (launcher.jobs.summary.JobList) once they are on
            # screen, not while the first frame of a long table is drawn.
            self.call_after_refresh(self.action_refresh)
        self._show_jobs("\n".join(message.warnings) if message.warnings else
                        "No jobs yet. Pick a preset on Home (h), check the plan, launch with ctrl+l.")

    def _show_jobs(self, empty: str = "No jobs yet.", start: int | None = None, cursor: int | None = None) -> None:
        """The table (as the filter line selects), its count and the detail line; EMPTY with no job at all.
        START, CURSOR: where the table's window of rows starts and its cursor is (_fill_table)."""
        shown = self._fill_table(start, cursor)
        self.refresh_bindings()  # a job's status may have changed under the cursor
        box = self.query_one("#jobs-box")
        subtitle = f"{len(self.jobs)} job(s), {sum(r['status'] == 'running' for _, r in self.jobs.values())} running"
        if self._filter:
            subtitle = f"{shown} of {subtitle}"
        table = self.query_one("#jobs", WindowTable)
        if table.before or table.after:  # the scroll bar is the window's: say where it is in the list
            subtitle = f"rows {self._start + 1}–{self._start + table.row_count} (ctrl+home/end: first/last) · {subtitle}"
        if box.border_subtitle != subtitle:  # setting it repaints the whole box, the table inside included
            box.border_subtitle = subtitle
        if not self.jobs:
            self._set_detail(empty)
        elif not shown:
            self._set_detail(Content.from_markup("No job matches [b]$words[/] (esc clears the filter).",
                                                 words=" ".join(self._filter)))
        else:
            self._show_detail()

    def _cells(self, record: Any, row: dict, unread: str) -> tuple:
        """A job's cells, in the columns' order (on_mount), but the start (ago_minutes, last).
        UNREAD (tui.unread_events): its events not seen in its Monitor yet, after the status."""
        status = styled(self.app, status_text(row), row["status"])
        if unread:
            status.append(f" · {unread}", style=f"bold {self.app.theme_variables.get('warning', '')}".strip())
        return (MARK if record.id in self.marked else "", record.id, row["name"], status, row["preset"],
                row.get("progress") or "-", best_text(row),
                "-" if row.get("reference_ap") is None else f"{row['reference_ap']:.1f}",
                row["devices"])

    def _fill_table(self, start: int | None = None, cursor: int | None = None) -> int:
        """Only the cells that changed are written (each repaint is bytes over an SSH link); the
        table is built again only when its rows are not the same jobs in the same order. It holds
        a window of WINDOW rows of the jobs the filter line selects (WindowTable): from START (by
        default where it was, moved only as far as keeps the highlighted job on its table row),
        the cursor on the job at index CURSOR (by default the highlighted job).
        Returns how many jobs the filter line selects."""
        table = self.query_one("#jobs", WindowTable)
        now = self.app.clock()
        selected = [(r, row) for r, row in self._all if not self._filter or matches(r, row, self._filter)]
        current = self.highlighted_id
        if start is None:
            start = self._start
            if current in self._shown:  # new jobs above it: the window follows it out of view only
                at = next((i for i, (r, _) in enumerate(selected) if r.id == current), None)
                if at is not None and not start <= at < start + WINDOW:
                    start = at - table.cursor_row
        start = max(0, min(start, len(selected) - WINDOW))
        window = selected[start:start + WINDOW]
        shown, cache = {}, {}
        for record, row in window:
            # A kept row is the same object from one refresh to the next: its cells are too.
            marks = (record.id in self.marked, self.app.seen_events.unread(record.id, row))
            kept = self._cell_cache.get(record.id)
            if kept is None or kept[0] is not row or kept[1] != marks:
                kept = (row, marks, self._cells(record, row, marks[1]))
            cache[record.id] = kept
            shown[record.id] = (kept[2], ago_minutes(row.get("started_at"), now))
        self._cell_cache = cache
        self._start = start
        if list(shown) != list(self._shown):
            # Where the cursor is on screen, so the moved window shows its job at the same place.
            on_screen = table.cursor_row - round(table.scroll_y)
            table.before = table.after = 0  # no Edge while the rows are built again
            table.clear()
            for job_id, (cells, started) in shown.items():
                table.add_row(*cells, started, key=job_id)
            if cursor is not None:  # the window moved under the cursor: its job stays where it was on screen
                table.move_cursor(row=cursor - start, scroll=False)
                self.call_after_refresh(table.scroll_to, y=max(0, cursor - start - on_screen), animate=False)
            elif current in shown:
                table.move_cursor(row=table.get_row_index(current))
        else:
            columns = [c.key for c in table.ordered_columns]
            for job_id, (cells, started) in shown.items():
                old_cells, old_started = self._shown[job_id]
                if cells is not old_cells:
                    for column, old, new in zip(columns, old_cells, cells):
                        if old != new:
                            table.update_cell(job_id, column, new)
                if started != old_started:
                    table.update_cell(job_id, "started", started)
        table.before, table.after = start, len(selected) - start - len(window)
        self._shown = shown
        return len(selected)

    def on_window_table_edge(self, event: WindowTable.Edge) -> None:
        """The window moved: centred on the cursor near its end, or at the first or last job."""
        table = event.table
        total = table.before + table.row_count + table.after
        if event.where == "first":
            self._show_jobs(start=0, cursor=0)
        elif event.where == "last":
            self._show_jobs(start=total - WINDOW, cursor=total - 1)
        else:
            at = self._start + table.cursor_row
            self._show_jobs(start=at - WINDOW // 2, cursor=at)

    def action_filter(self) -> None:
        box = self.query_one("#jobs-box")
        box.add_class("-filtering")
        self.query_one("#jobs-filter", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "jobs-filter":
            self._filter = event.value.lower().split()
            self._start = 0  # the newest jobs that match first
            self._show_jobs()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "jobs-filter":  # enter: back to the (filtered) table
            self.query_one("#jobs", DataTable).focus()

    def on_key(self, event) -> None:
        filter_line = self.query_one("#jobs-filter", Input)
        if event.key == "escape" and filter_line.has_focus:  # esc: no filter, the line hidden again
            event.stop()
            filter_line.value = ""
            self.query_one("#jobs-box").remove_class("-filtering")
            self.query_one("#jobs", DataTable).focus()

    @property
    def highlighted_id(self) -> str | None:
        table = self.query_one("#jobs", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def _highlighted(self) -> tuple[Any, dict] | None:
        job_id = self.highlighted_id
        if job_id is None or job_id not in self.jobs:
            self.notify("No job selected.", severity="warning")
            return None
        return self.jobs[job_id]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()
        self.refresh_bindings()  # the keys follow the highlighted job (check_action)

    # The actions that need a job, and those that need it in a given state.
    _NEED_A_JOB = frozenset({"open", "mark", "report", "stop", "resume", "remove"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only what applies to the highlighted job is offered (and done by its key): Stop… for a
        job that runs or waits, Resume for one that stopped or failed; a finished job has
        neither (backends.resume refuses it too)."""
        if action not in self._NEED_A_JOB:
            return True
        job = self.jobs.get(self.highlighted_id or "")
        if job is None:
            return False
        status = job[1]["status"]
        if action == "stop":
            return status in status_words.ACTIVE
        if action == "resume":
            return status in (status_words.FAILED, status_words.STOPPED)
        if action == "remove":
            return status not in status_words.ACTIVE
        return True

    def _show_detail(self) -> None:
        job_id = self.highlighted_id
        if job_id not in self.jobs:
            return
        record, row = self.jobs[job_id]
        extra = ""
        if row.get("exit_code") not in (None, 0):
            extra = f" · exit {row['exit_code']}"
        if row.get("error"):
            extra += f" · {row['error']}"
        # Its pid, or for a SLURM job its SLURM id and state (pending reason, restarts): the row's details.
        where = backends.where(record, row)
        # The devices and start again here, before the run dir (which may wrap): on an 80-column
        # terminal the table's last columns are cut.
        self._set_detail(Content.from_markup(
            "[b]$name[/] [dim]$devices · started $started · $where · $resumes resume(s)$extra[/]\n$dir",
            name=record.name, dir=record.run_dir, devices=str(row.get("devices") or "?"),
            started=ago_minutes(row.get("started_at"), self.app.clock()), where=where, resumes=str(record.resumes),
            extra=extra))

    def _set_detail(self, content: Content | str) -> None:
        """The detail line, repainted only when its text changed (a refresh mostly changes nothing)."""
        if content != self._detail:
            self._detail = content
            self.query_one("#job-detail", Static).update(content)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        job = self._highlighted()
        if job:
            self.app.open_monitor(job[0])

    def action_mark(self) -> None:
        job = self._highlighted()
        if not job:
            return
        job_id = job[0].id
        self.marked ^= {job_id}
        table = self.query_one("#jobs", DataTable)
        mark = MARK if job_id in self.marked else ""
        table.update_cell(job_id, "mark", mark)
        if job_id in self._shown:
            cells, started = self._shown[job_id]
            self._shown[job_id] = ((mark, *cells[1:]), started)

    def action_compare(self) -> None:
        from tui.screens.compare import CompareScreen

        chosen = [self.jobs[j] for j in self.jobs if j in self.marked] or \
                 [job for job in self.jobs.values() if job[1]["status"] not in status_words.ACTIVE]
        if not chosen:
            self.notify("No finished run to compare yet.", severity="warning")
            return
        self.app.push_screen(CompareScreen(chosen, unmarked=not self.marked & set(self.jobs)))

    def action_stop(self) -> None:
        job = self._highlighted()
        if job:
            ask_stop(self, job[0], job[1]["status"])

    def action_resume(self) -> None:
        job = self._highlighted()
        if job:
            start_resume(self, job[0], job[1]["status"])

    def action_report(self) -> None:
        job = self._highlighted()
        if job:
            start_report(self, job[0])

    def action_remove(self) -> None:
        job = self._highlighted()
        if job:
            ask_remove(self, job[0], job[1]["status"])

    def on_job_action_done(self, message: JobActionDone) -> None:
        self.notify(message.text, severity="error" if message.error else "information",
                    timeout=10 if message.error else 5)
        self.action_refresh()

    def screen_commands(self):
        # The palette offers what the keys offer (check_action): no Stop or Resume for a finished job.
        if self.check_action("stop", ()):
            yield SystemCommand("Stop job", "Stop the highlighted job (asks first)", self.action_stop)
        if self.check_action("resume", ()):
            yield SystemCommand("Resume job", "Resume the highlighted job from its checkpoint", self.action_resume)
        if self.check_action("remove", ()):
            yield SystemCommand("Remove job", "Remove the highlighted finished job and its run dir (asks first)",
                                self.action_remove)
        yield SystemCommand("Filter jobs", "Show only jobs whose name, preset or status has these words (/)",
                            self.action_filter)
        yield SystemCommand("Compare runs", "Marked runs (or all finished ones) against the reference",
                            self.action_compare)
        yield SystemCommand("Write report", "The highlighted job's reproduction report (report.md + PNG charts)",
                            self.action_report)
