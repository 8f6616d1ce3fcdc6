"""The Plan screen's data field takes your own export too: a Roboflow-style folder typed there is planned
as --data (its classes set in the config, the `dataset` check in the checklist), COCO's tree as before."""

from __future__ import annotations

from pathlib import Path

from data_helpers import class_names, roboflow_from
from test_tui_tmux import tmux  # noqa: F401  the fixture: a tmux server of its own
from tui_support import make_app, open_demo_plan, screen_text, sync, wait_for
from training_helpers import make_tiny_dataset
from tui.screens.plan import PlanScreen




@sync
async def test_plan_screen_plans_a_roboflow_export_typed_in_the_data_field(fake_gpus, tmp_path):
    fake_gpus("none")
    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    app = make_app()
    async with app.run_test(size=(100, 32)) as pilot:
        plan = await open_demo_plan(app, pilot)
        assert isinstance(plan, PlanScreen) and plan.preset.name == "demo-cpu"
        plan.query_one("#data-root").value = str(export)
        await pilot.pause()
        typed = str(export)
        await wait_for(pilot, lambda: plan.plan_error or (plan.plan is not None and typed in (
            plan.plan.request.data, plan.plan.request.data_root)), 300, "the plan of the typed folder")
        assert plan.plan is not None, plan.plan_error
        assert (plan.plan.request.data, plan.plan.request.data_root) == (typed, None)
        assert plan.plan.resolved["classes"] == ["triangle", "ellipse", "rectangle"]
        assert plan.plan.resolved["num_classes"] == 3
        dataset = next(c for c in plan.plan.checks if c.id == "dataset")
        assert dataset.status == "warn" and "warmup 50 iterations" in dataset.detail
        assert "dataset" in screen_text(app)


@sync
async def test_dataset_panel_shows_the_check_and_the_boxes_at_80x24(fake_gpus, tmp_path):
    from textual.widgets import Static

    from tui.screens.dataset import DatasetScreen

    fake_gpus("none")
    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        plan = await open_demo_plan(app, pilot)
        assert isinstance(plan, PlanScreen)
        await pilot.press("ctrl+d")  # no data of your own yet: said, nothing opens
        await pilot.pause()
        assert app.screen is plan and any("data field first" in n.message for n in app._notifications)
        plan.query_one("#data-root").value = str(export)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, DatasetScreen), 10, "the Dataset panel")
        panel = app.screen
        await wait_for(pilot, lambda: panel.report is not None or "could not" in screen_text(app), 60, "the check")
        report = str(panel.query_one("#dataset-report", Static).render())
        for label, (cid, name) in enumerate(zip((12, 3, 7), class_names(export))):
            assert f"{label}  id {cid:<4} {name}" in report, report  # label order = the file's category order
        assert "WARN  train: 1 categories have no annotations" in report and "fix: nothing to do" in report
        assert "Dataset" in screen_text(app) and "classes (3" in screen_text(app)
        # The boxes: drawn in the training interpreter, then shown by textual-image (half-blocks or
        # Unicode here: Pilot's terminal speaks no graphics protocol).
        await wait_for(pilot, lambda: panel.query("#dataset-image") or "could not draw" in screen_text(app), 120,
                       "the preview image")
        image = panel.query_one("#dataset-image")
        assert type(image).__module__.startswith("textual_image.")
        assert Path(panel.drawn["png"]).stat().st_size > 0 and panel.drawn["images"] == 8
        panel.query_one("#dataset-body").scroll_end(animate=False)
        await pilot.pause()
        assert image.region.height > 0 and image.region.right <= 80  # on screen, inside the 80 columns
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is plan


def test_textual_image_is_not_imported_at_start_up():
    from conftest import modules_after

    loaded = modules_after("import tui.app, tui.screens.plan, tui.screens.dataset")
    assert not {m for m in loaded if m.split(".")[0] in ("textual_image", "PIL")}


def test_dataset_panel_draws_the_boxes_in_a_real_terminal(tmux, frcnn_home, tmp_path):
    # tmux speaks neither sixel nor kitty's protocol: textual-image asks it (inside App.suspend, the first time)
    # and draws half-blocks. The terminal's answers must not end up as keys in the form.
    import sys
    import time

    from conftest import GPU_SCENARIOS, REPO

    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    tmux("-f", "/dev/null", "new-session", "-d", "-s", tmux.name, "-x", "80", "-y", "24", "-c", str(REPO),
         "-e", f"FRCNN_TUI_HOME={frcnn_home}", "-e", f"FRCNN_TUI_FAKE_GPUS={GPU_SCENARIOS / 'none.json'}",
         "-e", "TERM=xterm-256color", "-e", "PS1=$ ", "-e", "COLUMNS=80", "-e", "LINES=24", "sh")
    tmux("send-keys", "-t", tmux.name, f"{sys.executable} -m tui; echo \"frcnn-tui exited with $?\"", "Enter")
    tmux.wait_for("demo-cpu")
    tmux.keys("Enter")  # demo-cpu is preselected without a GPU
    tmux.wait_for("gloo workers")
    tmux.keys(*["Tab"] * 8)  # gloo workers, the target, nodes, imgs, lr, seed, node rank, master: the data field
    tmux("send-keys", "-t", tmux.name, "-l", str(export))
    tmux.wait_for("/my export ")  # the field shows the path's end
    tmux.keys("C-d")
    screen = tmux.wait_for("classes (3", 60)
    assert "Dataset" in screen and "WARN" in screen
    deadline = time.monotonic() + 120
    while "▀" not in screen:  # the picture, two pixels a cell, below the report once it is drawn
        assert time.monotonic() < deadline, f"no picture; the screen was:\n{screen}"
        tmux.keys("End")
        screen = tmux.screen()
    tmux.keys("Escape")
    screen = tmux.wait_for("Checklist")
    data_line = next(line for line in screen.splitlines() if "data root" in line)
    assert data_line.rstrip("│ ").endswith("/my export"), data_line  # nothing typed after the path
    tmux.keys("C-q")
    tmux.wait_for("frcnn-tui exited with 0")


def test_dataset_panel_draws_sixels_where_the_terminal_answers_that_it_speaks_them(frcnn_home, tmp_path):
    # A pseudo-terminal that answers the primary device attributes query as a sixel terminal does (xterm -ti
    # vt340: attribute 4). textual-image asks when the panel first shows a picture; Textual's input thread
    # would eat the answer (and textual-image fall back to half-blocks) were the app not suspended for it.
    import fcntl
    import os
    import select
    import signal
    import struct
    import subprocess
    import sys
    import termios
    import time

    from conftest import GPU_SCENARIOS, REPO

    export = roboflow_from(make_tiny_dataset(tmp_path), tmp_path / "my export")
    master, slave = os.openpty()
    # 80x24 cells of 10x20 px: textual-image reads the cell size from here and asks nothing else.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 800, 480))
    env = dict(os.environ, FRCNN_TUI_HOME=str(frcnn_home), FRCNN_TUI_FAKE_GPUS=str(GPU_SCENARIOS / "none.json"),
               TERM="xterm-256color", COLUMNS="80", LINES="24")
    proc = subprocess.Popen([sys.executable, "-m", "tui"], stdin=slave, stdout=slave, stderr=slave, cwd=REPO,
                            env=env, start_new_session=True)
    os.close(slave)
    seen = bytearray()

    def read_until(marker: bytes | None, timeout: float) -> None:
        """Read (and answer) the app's output until MARKER shows, or for TIMEOUT seconds when MARKER is None."""
        deadline = time.monotonic() + timeout
        while marker is None or marker not in seen:
            if time.monotonic() > deadline and marker is None:
                return
            assert time.monotonic() < deadline and proc.poll() is None, f"no {marker!r}: {bytes(seen[-400:])!r}"
            if select.select([master], [], [], 0.05)[0]:
                chunk = os.read(master, 65536)
                if b"\x1b[c" in chunk:  # the primary DA query: answer as a VT340 (4 = sixel graphics)
                    os.write(master, b"\x1b[?63;1;2;4;6;9;15;22c")
                seen.extend(chunk)

    def keys(*keys: bytes) -> None:
        for key in keys:
            os.write(master, key)
            read_until(None, 0.15)

    try:
        read_until(b"gloo", 60)
        keys(b"\r")  # demo-cpu is preselected without a GPU: its plan
        read_until(b"data root", 60)
        read_until(None, 1)
        keys(*[b"\t"] * 8, str(export).encode())  # to the data field (as in the tmux test), typed
        read_until(b"my export", 30)
        keys(b"\x04")  # ctrl+d
        read_until(b"classes (3", 60)
        # textual-image asks once the preview is drawn. A key pressed while it waits for the answer would be
        # read as the answer (as for a user typing then): press none until it has asked and been answered.
        read_until(b"\x1b[c", 120)
        read_until(None, 1)
        deadline = time.monotonic() + 30
        while b"\x1bP0;0;0q" not in seen:  # a sixel image's start, once the picture is scrolled to
            assert time.monotonic() < deadline, f"no sixels: {bytes(seen[-400:])!r}"
            keys(b"\x1b[F")  # End
            read_until(None, 0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.close(master)
