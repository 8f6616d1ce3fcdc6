"""What the Plan screen says in words: the lr preview, exactly as the core's planning returns it
(launcher.planning.preview), never computed here."""

from __future__ import annotations

from textual.content import Content

from launcher.planning.preview import PlanPreview


def lr_preview(pv: PlanPreview) -> Content:
    """The lr (and an override's distance from the rule), its formula, batch, warmup, schedule."""
    p, pr = pv.preset, pv.proposal
    unit = "worker" if pv.cpu else "GPU"
    head = Content.from_markup("[b]lr [reverse] $lr [/reverse][/b]  [dim]$rule rule[/]",
                               lr=f"{pr.lr:g}", rule=pr.rule)
    if pr.override is not None:
        head = Content.from_markup("[b]lr [reverse] $lr [/reverse][/b]  [bold $warning]override: "
                                   "$ratio× the $rule rule's $rule_lr[/]", lr=f"{pr.lr:g}",
                                   ratio=f"{pr.override_ratio:.3g}", rule=pr.rule, rule_lr=f"{pr.rule_lr:g}")
    warm = f"warmup {pr.warmup_iters}" if pr.base_warmup_iters else "no warmup"
    ref = f" · ref AP {p.reference_ap:g}" if p.reference_ap else ""
    nodes = f"{pr.nodes} nodes × " if pr.nodes > 1 else ""
    return Content("\n").join([
        head,
        Content.from_markup("[$accent]$f[/]", f=pr.formula),
        Content.from_markup("[dim]$n$g $unit × $i img = batch $b · $warm · $ep ep$ms$ref[/]",
                            n=nodes, g=str(pr.gpus_per_node), unit=unit + ("s" if pr.gpus_per_node > 1 else ""),
                            i=str(pr.imgs_per_gpu), b=str(pr.total_batch), warm=warm,
                            ep=str(p.effective_epochs), ms=f" {p.milestones}" if p.milestones else "", ref=ref),
    ])
