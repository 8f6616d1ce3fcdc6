"""What the CLI's command modules share: JSON output, the plan arguments (plan, launch, slurm) and the
PlanRequest built from them, the dataset arguments (those three and `data check`/`data preview`).

It sits below every command module (main.py and the modules it registers import it; it imports none
of them), so no command module needs another's private helpers and the CLI has no import cycle.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from launcher.cli import arg_types

__all__ = ["print_json", "add_plan_args", "add_data_args", "plan_request"]


def print_json(data: Any, *, long: bool = False) -> None:
    """Every command's --json output: indented, and what JSON cannot say (paths, dates) as text.
    LONG (a list of thousands of rows: `jobs`): the same layout through orjson, whose C encoder
    also indents (json's indents only in Python: 0.25 s for 10,000 jobs' rows, orjson 0.01 s).
    For data without NaN or infinity (orjson writes them as null); text other than ASCII is
    written as UTF-8 rather than as \\u escapes, which JSON readers read alike."""
    if long:
        import orjson

        options = (orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)  # dates and dataclasses as str(), as json's default=str
        try:
            out = orjson.dumps(data, default=str, option=options) + b"\n"
        except TypeError:  # what orjson cannot write (an int over 64 bits): json can
            out = None
        if out is not None:
            sys.stdout.flush()
            buffer = getattr(sys.stdout, "buffer", None)  # not there when a caller swapped stdout for a StringIO
            if buffer is not None:
                buffer.write(out)
            else:
                sys.stdout.write(out.decode())
            return
    print(json.dumps(data, indent=2, default=str))


def add_data_args(p: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """--data PATH (or PATH) and the four explicit paths, as plan/launch/slurm and `data check` take them."""
    if positional:
        p.add_argument("data", nargs="?", metavar="PATH", help="the dataset folder (COCO, annotations/, Roboflow)")
    else:
        p.add_argument("--data", metavar="PATH", help="your own COCO-format dataset: a folder in a known layout "
                       "(frcnn-tui data check PATH shows what is found)")
    p.add_argument("--train-ann", metavar="FILE", help="train annotation file (with the three other paths)")
    p.add_argument("--train-images", metavar="DIR")
    p.add_argument("--val-ann", metavar="FILE")
    p.add_argument("--val-images", metavar="DIR")


def add_plan_args(p: argparse.ArgumentParser) -> None:
    """What `plan`, `launch` and `slurm` take to make a plan (plan_request turns it into a PlanRequest)."""
    p.add_argument("--preset", required=True, help="preset name (frcnn-tui presets)")
    dev = p.add_mutually_exclusive_group()
    dev.add_argument("--gpus", type=arg_types.count, help="use the first N GPUs (PCI order)")
    dev.add_argument("--gpu-ids", type=arg_types.int_list, help="use these GPUs, e.g. 0,2")
    p.add_argument("--cpu", action="store_true", help="train on CPU with gloo workers")
    p.add_argument("--nproc", type=arg_types.count, help="CPU workers per node (default: the preset's)")
    p.add_argument("--nodes", type=arg_types.count, default=1)
    p.add_argument("--node-rank", type=arg_types.index, default=0)
    p.add_argument("--master-addr", help="rendezvous host (multi-node)")
    p.add_argument("--port", type=arg_types.port, help="rendezvous port (default: a free one)")
    p.add_argument("--imgs-per-gpu", type=arg_types.count)
    p.add_argument("--lr", type=arg_types.positive_float, help="override the proposed lr (the plan says how far it is off)")
    p.add_argument("--lr-rule", choices=["linear", "sqrt"])
    p.add_argument("--rescale-warmup", action="store_true", help="scale warmup iterations by base/total batch "
                   "(detectron2 style; mmdet's default keeps them)")
    p.add_argument("--seed", type=arg_types.seed)
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--data-root", help="dataset root (COCO layout)")
    add_data_args(p)  # --data PATH, or --train-ann/--train-images/--val-ann/--val-images
    p.add_argument("--load-from", metavar="FILE", help="fine-tune from this checkpoint (its class-dependent "
                   "head layers start fresh when your classes differ)")
    p.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--python", help="training interpreter (default: this one, $FRCNN_TUI_PYTHON, config.toml)")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--json", action="store_true")


def plan_request(args: argparse.Namespace) -> Any:
    """The PlanRequest of a command line made by add_plan_args (--name, --work-dir, --notify where given)."""
    from launcher.planning.plan import PlanRequest

    return PlanRequest(
        preset=args.preset, gpus=args.gpus, gpu_ids=args.gpu_ids, cpu=args.cpu, nproc=args.nproc, nodes=args.nodes,
        node_rank=args.node_rank, master_addr=args.master_addr, port=args.port, imgs_per_gpu=args.imgs_per_gpu,
        lr=args.lr, lr_rule=args.lr_rule, rescale_warmup=args.rescale_warmup, seed=args.seed,
        deterministic=args.deterministic, data_root=args.data_root, cfg_options=args.cfg_options,
        data=args.data, train_ann=args.train_ann, train_images=args.train_images, val_ann=args.val_ann,
        val_images=args.val_images, load_from=args.load_from,
        work_dir=getattr(args, "work_dir", None), name=getattr(args, "name", None), python=args.python, amp=args.amp,
        notify=getattr(args, "notify", None) or [], on_stall=getattr(args, "on_stall", None) or "keep",
        stall_grace_s=getattr(args, "stall_grace", None))
