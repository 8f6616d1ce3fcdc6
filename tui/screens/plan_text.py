"""What the Plan screen says in words: the lr preview, exactly as the core's planning returns it
(launcher.planning.preview), never computed here."""

from __future__ import annotations

from textual.content import Content

from launcher.planning.preview import PlanPreview
from launcher.planning.what_runs import WhatRuns

# Where a set lr came from, named as the Plan screen's fields are.
_SET_BY = {"--lr": "override", "--cfg-options": "cfg-options"}


def lr_preview(pv: PlanPreview, runs: WhatRuns | None = None) -> Content:
    """The lr (and a set lr's distance from the rule), its formula, batch, warmup, schedule: as the
    preview has them while typing, then as the resolved config runs them (RUNS, once the plan is
    made: a --cfg-options lr or max_epochs included, the rule's and the preset's beside them)."""
    p, pr = pv.preset, pv.proposal
    unit = "worker" if pv.cpu else "GPU"
    lr, set_by, ratio = pr.lr, "--lr" if pr.override is not None else None, pr.override_ratio
    epochs, milestones, changed = str(p.effective_epochs), p.milestones, ""
    if runs is not None:
        lr, set_by, ratio = runs.lr, runs.lr_set_by, runs.lr_ratio
        epochs = str(runs.epochs) if runs.epochs is not None else f"{runs.max_iters or '?'} it"
        milestones = runs.milestones or []
        preset_ms = f" {runs.preset_milestones}" if runs.preset_milestones else ""
        changed = f" (preset {runs.preset_epochs} ep{preset_ms})" if runs.schedule_changed else ""
    head = Content.from_markup("[b]lr [reverse] $lr [/reverse][/b]  [dim]$rule rule[/]", lr=f"{lr:g}", rule=pr.rule)
    if set_by is not None:
        head = Content.from_markup("[b]lr [reverse] $lr [/reverse][/b]  [bold $warning]$by: "
                                   "$ratio× the $rule rule's $rule_lr[/]", lr=f"{lr:g}", by=_SET_BY[set_by],
                                   ratio=f"{ratio:.3g}", rule=pr.rule, rule_lr=f"{pr.rule_lr:g}")
    warm = f"warmup {pr.warmup_iters}" if pr.base_warmup_iters else "no warmup"
    ref = f" · ref AP {p.reference_ap:g}" if p.reference_ap else ""
    nodes = f"{pr.nodes} nodes × " if pr.nodes > 1 else ""
    return Content("\n").join([
        head,
        Content.from_markup("[$accent]$f[/]", f=pr.formula),
        Content.from_markup("[dim]$n$g $unit × $i img = batch $b · $warm · $ep ep$ms$changed$ref[/]",
                            n=nodes, g=str(pr.gpus_per_node), unit=unit + ("s" if pr.gpus_per_node > 1 else ""),
                            i=str(pr.imgs_per_gpu), b=str(pr.total_batch), warm=warm, ep=epochs,
                            ms=f" {milestones}" if milestones else "", changed=changed, ref=ref),
    ])
