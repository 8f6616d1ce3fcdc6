"""frcnn-tui's terminal UI (Textual). The launcher core lives in `launcher/` and never imports this."""
