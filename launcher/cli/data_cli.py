"""`frcnn-tui data check PATH`: what a COCO-format dataset holds and what mmdet would make of it
(`--save-preset NAME` keeps it as a preset); `frcnn-tui data preview PATH`: its boxes on a PNG grid.

check exits 0 when the data would train as it is (warnings included), 1 when a problem would break
or silently spoil training, 2 for input that is not a dataset (one line, nothing written).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from launcher.cli.common import add_data_args, print_json
from launcher.errors import UserError

__all__ = ["register"]


def layout_from_args(args: argparse.Namespace, verb: str):
    from launcher.data.layout import EXPLICIT_FLAGS, from_options

    layout = from_options(args.data, args.train_ann, args.train_images, args.val_ann, args.val_images)
    if layout is None:
        raise UserError(f"data {verb} takes a dataset folder PATH, or {' '.join(EXPLICIT_FLAGS)}")
    return layout


def cmd_data_check(args: argparse.Namespace) -> int:
    from launcher.data.coco_check import check

    layout = layout_from_args(args, "check")
    if args.base and not args.save_preset:
        raise UserError("--base goes with --save-preset NAME")
    report = check(layout)
    saved = None
    if args.save_preset:
        from launcher.data.saved_preset import save_preset

        saved = save_preset(report, args.save_preset, args.base or "r50-fpn-1x")
    if args.json:
        print_json(dict(report.to_dict(), saved_preset=str(saved) if saved else None))
    else:
        print_report(report)
        if saved:
            print(f"saved preset {args.save_preset} ({saved}): frcnn-tui plan --preset {args.save_preset}")
    return 1 if report.status == "fail" else 0


def cmd_data_preview(args: argparse.Namespace) -> int:
    """Ground-truth boxes on a PNG grid, drawn in the training interpreter (launcher/data/preview.py)."""
    from pathlib import Path

    from launcher import paths
    from launcher.data.preview import draw, prepare
    from launcher.stack import training_env

    layout = layout_from_args(args, "preview")
    # Before the output folder is made: a refused preview writes nothing.
    chosen = prepare(layout, args.split, args.n)
    python = training_env.training_python(args.python)
    out_dir = paths.output_dir(Path(args.output).expanduser().absolute(), "the preview")
    drawn = draw(chosen, args.split, args.n, out_dir, python)
    if args.json:
        print(json.dumps(drawn))  # one line, as a script reads it
    else:
        print(f"{drawn['images']} {args.split} images, {drawn['boxes']} boxes: {drawn['png']}")
    return 0


def print_report(report: Any) -> None:
    from launcher.data.report_text import report_lines

    print("\n".join(report_lines(report)))


def register(sub: Any) -> None:
    data = sub.add_parser("data", help="your own dataset: check it, look at its boxes")
    verbs = data.add_subparsers(dest="data_command", parser_class=type(data), required=True)
    p = verbs.add_parser("check", help="classes, counts, sizes and every problem mmdet would hit, before training")
    add_data_args(p, positional=True)
    p.add_argument("--save-preset", metavar="NAME", help="write a user preset: --base's recipe on this data")
    p.add_argument("--base", metavar="PRESET", help="the recipe of the saved preset (default r50-fpn-1x)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_check)
    p = verbs.add_parser("preview", help="draw the ground-truth boxes onto a PNG grid of images")
    add_data_args(p, positional=True)
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="where data-preview-SPLIT.png goes (default .)")
    p.add_argument("--split", choices=["train", "val", "test"], default="val")
    p.add_argument("--n", type=int, default=16, help="images in the grid (default 16)")
    p.add_argument("--python", help="training interpreter (it draws with OpenCV)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_preview)
