"""frcnn-tui's core: probe, presets, lr scaling, checklist, launch, registry, tailing.

Nothing here imports Textual, torch, mmcv or mmdet at import time; the training
stack is only touched inside subprocesses run with the training interpreter.
"""

__version__ = "0.1.0"
