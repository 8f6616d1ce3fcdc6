"""Modal dialogs: a yes/no confirmation and a text viewer (a check's full detail and fix)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.styles import use_styles


class ConfirmDialog(ModalScreen[bool]):
    """Asks once; y / enter on the focused button confirms, n / escape declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, title: str, body: str | Content, *, confirm: str = "Yes", danger: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        use_styles(self, "dialogs")
        self.title_text, self.body, self.confirm, self.danger = title, body, confirm, danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content.from_markup("[b]$t[/]", t=self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body)
            with Horizontal(classes="dialog-buttons"):
                yield from self.buttons()

    def buttons(self) -> ComposeResult:
        yield Button(f"{self.confirm} (y)", id="yes", variant="error" if self.danger else "primary")
        yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe answer is the default

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class StopDialog(ConfirmDialog):
    """The stop confirmation with its second way: c checkpoints at the next iteration, then stops
    (dismissed with CHECKPOINT); y stops at once (True); n / escape declines (False)."""

    CHECKPOINT = "checkpoint"
    BINDINGS = [Binding("c", "checkpoint", "Checkpoint, then stop")]

    def buttons(self) -> ComposeResult:
        yield Button("Checkpoint, then stop (c)", id=self.CHECKPOINT, variant="primary")
        yield from super().buttons()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.CHECKPOINT if event.button.id == self.CHECKPOINT else event.button.id == "yes")

    def action_checkpoint(self) -> None:
        self.dismiss(self.CHECKPOINT)


class TextDialog(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, title: str, body: str | Content) -> None:
        super().__init__(classes="dialog-screen")
        use_styles(self, "dialogs")
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Content.from_markup("[b]$t[/]", t=self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body)
            yield Static("[dim]escape / enter: close[/]", classes="dialog-hint")
