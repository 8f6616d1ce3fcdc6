"""`frcnn-tui demo` end to end, as a new user runs it: generate, plan, launch, follow, summarise."""

import json
from pathlib import Path

import pytest

from training_helpers import explain, needs_stack, scalars_lines

pytestmark = [needs_stack, pytest.mark.training]


def _run_demo(cli, *args):
    result = cli("demo", "--json", *args, timeout=2400)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    return result, summary


def _assert_learned(summary, loss_key="loss"):
    rows = scalars_lines(Path(summary["run_dir"]))
    losses = [r[loss_key] for r in rows if loss_key in r]
    assert len(losses) >= 4, explain(Path(summary["run_dir"]))
    k = max(1, len(losses) // 4)
    assert sum(losses[-k:]) / k < sum(losses[:k]) / k, losses  # the loss falls
    assert any("coco/bbox_mAP" in r for r in rows)


def _assert_the_demo_path(result, summary):
    """What any demo run shows: it ran to the end, with the rule's lr and its formula, and said so."""
    assert result.returncode == 0, explain(Path(summary["run_dir"]))
    assert summary["status"] == "succeeded" and summary["final_bbox_mAP"] is not None
    assert summary["formula"] == "0.002 × (1×2×2)/4 = 0.002"
    # Within the first epoch the total loss need not fall: the GIoU box term grows as the RPN
    # starts to find objects and the RoI head gets positives. The RPN's objectness loss falls
    # from ln 2 at once, in every run; the full demo below checks the total loss too.
    _assert_learned(summary, "loss_rpn_cls")
    assert "launched job" in result.stderr and "bbox mAP" in result.stderr


@pytest.mark.short_demo
def test_short_demo(cli):
    """test-fast's variant: the same path, one epoch (make test runs the full demo instead)."""
    _assert_the_demo_path(*_run_demo(cli, "--epochs", "1"))


@pytest.mark.demo
@pytest.mark.timeout(2700)
def test_full_demo_reaches_the_target(cli):
    result, summary = _run_demo(cli)
    _assert_the_demo_path(result, summary)
    _assert_learned(summary)
    assert summary["best_bbox_mAP"] is not None
    # Issue 16's goal is 0.75; the recipe measured 0.801 (BENCHMARKS.md, section 5), and seed 0
    # on the same generated data repeats its curve to three decimals, so below 0.78 the recipe
    # (its Soft-NMS, cosine lr, sampling) or the data broke. (The time to it is a benchmark's
    # business, not a test's.)
    assert summary["best_bbox_mAP"] >= 0.78, summary["map_by_epoch"]
    print(f"demo: best bbox mAP {summary['best_bbox_mAP']:.3f} in {summary['wall_s']:.0f} s")
