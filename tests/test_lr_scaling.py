import pytest

from launcher.planning.lr_scaling import propose


@pytest.mark.parametrize("gpus,lr", [(8, 0.02), (4, 0.01), (2, 0.005), (1, 0.0025)])
def test_linear_rule_r50_1x(gpus, lr):
    p = propose(0.02, 16, nodes=1, gpus_per_node=gpus, imgs_per_gpu=2)
    assert p.lr == lr and p.total_batch == 2 * gpus


def test_two_nodes_and_four_imgs():
    assert propose(0.02, 16, nodes=2, gpus_per_node=8, imgs_per_gpu=2).lr == 0.04
    assert propose(0.02, 16, nodes=1, gpus_per_node=4, imgs_per_gpu=4).lr == 0.02


def test_formula_shows_the_numbers():
    assert propose(0.02, 16, nodes=1, gpus_per_node=4, imgs_per_gpu=2).formula == "0.02 × (1×4×2)/16 = 0.01"


def test_sqrt_rule_and_warmup_rescale():
    p = propose(0.0001, 16, nodes=1, gpus_per_node=2, imgs_per_gpu=2, rule="sqrt",
                base_warmup_iters=500, rescale_warmup=True)
    assert p.lr == pytest.approx(0.00005) and "√" in p.formula
    assert p.warmup_iters == 2000  # batch 4 of 16: 4x the iterations, as detectron2 rescales
    assert propose(0.02, 16, nodes=1, gpus_per_node=2, imgs_per_gpu=2, base_warmup_iters=500).warmup_iters == 500


def test_override_reports_its_distance_from_the_rule():
    p = propose(0.02, 16, nodes=1, gpus_per_node=4, imgs_per_gpu=2, override=0.02)
    assert p.lr == 0.02 and p.rule_lr == 0.01 and p.override_ratio == 2.0


@pytest.mark.parametrize("kwargs", [dict(nodes=0, gpus_per_node=1, imgs_per_gpu=2),
                                    dict(nodes=1, gpus_per_node=1, imgs_per_gpu=0)])
def test_bad_counts_raise(kwargs):
    with pytest.raises(ValueError):
        propose(0.02, 16, **kwargs)
