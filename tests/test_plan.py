"""plan: the lr proposal and the checklist over the *real* mmdet config, via the CLI's JSON."""

import json

import pytest


def plan_json(cli, *args, fake=None, env=None):
    extra = dict(env or {})
    if fake:
        from conftest import GPU_SCENARIOS

        extra["FRCNN_TUI_FAKE_GPUS"] = str(GPU_SCENARIOS / f"{fake}.json")
    result = cli("plan", "--json", *args, env=extra)
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout), result.returncode


def checks(data):
    return {c["id"]: c for c in data["checklist"]}


REQUIRED_KEYS = {"preset", "base_lr", "base_batch_size", "nodes", "gpus_per_node", "imgs_per_gpu", "world_size",
                 "total_batch", "lr", "rule", "formula", "warmup_iters", "epochs", "checklist", "command"}


@pytest.mark.parametrize("gpus,lr", [(8, 0.02), (4, 0.01), (2, 0.005), (1, 0.0025)])
def test_r50_1x_lr_for_gpu_counts(cli, gpus, lr):
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", str(gpus), fake="eight")
    assert REQUIRED_KEYS <= set(data)
    assert data["lr"] == lr and data["total_batch"] == 2 * gpus and data["world_size"] == gpus
    assert data["formula"] == f"0.02 × (1×{gpus}×2)/16 = {lr:g}"
    assert checks(data)["lr"]["status"] == "pass"
    assert f"--nproc-per-node={gpus}" in data["command"]
    assert data["env"]["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, range(gpus)))
    assert data["env"]["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_two_nodes_of_eight_and_four_by_four(cli):
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "8", "--nodes", "2", "--master-addr", "node0",
                        "--port", "29400", fake="eight")
    assert data["lr"] == 0.04 and data["world_size"] == 16
    assert "--rdzv-endpoint=node0:29400" in data["command"] and "--nnodes=2" in data["command"]
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "4", "--imgs-per-gpu", "4", fake="eight")
    assert data["lr"] == 0.02 and data["total_batch"] == 16


def test_checklist_flags_what_breaks_a_reproduction(cli):
    # No seed, a 10-epoch schedule, no COCO here, OpenCV 5 against the reference 4, the 8-GPU lr on 4 GPUs.
    data, rc = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "4", "--lr", "0.02",
                         "--cfg-options", "train_cfg.max_epochs=10", fake="eight")
    c = checks(data)
    assert rc == 1
    assert c["seed"]["status"] == "warn" and c["seed"]["hint"]
    assert c["schedule"]["status"] == "fail" and "max_epochs=10" in c["schedule"]["detail"]
    assert c["data"]["status"] == "fail" and "instances_val2017.json" in c["data"]["detail"]
    assert c["opencv"]["status"] in ("warn", "pass")
    if not data["versions"]["cv2"].startswith("4"):
        assert c["opencv"]["status"] == "warn" and "reference 4" in c["opencv"]["detail"]
    assert c["lr"]["status"] == "fail" and "unscaled lr 0.02" in c["lr"]["detail"]
    assert data["lr_override_ratio"] == 2.0
    for check in data["checklist"]:
        assert check["status"] in ("pass", "warn", "fail") and check["detail"]
        if check["status"] != "pass":
            assert check["hint"], check


def test_auto_scale_lr_on_is_caught(cli):
    data, rc = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "4", "--seed", "0",
                         "--cfg-options", "auto_scale_lr.enable=True", fake="eight")
    assert checks(data)["lr"]["status"] == "fail" and "scale the lr a second time" in checks(data)["lr"]["detail"]
    assert checks(data)["seed"]["status"] == "pass"


def test_busy_and_missing_gpus(cli):
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpu-ids", "0,1", fake="four_one_busy")
    assert checks(data)["gpus"]["status"] == "warn" and "999999" in checks(data)["gpus"]["detail"]
    data, rc = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "8", fake="four_one_busy")
    assert checks(data)["gpus"]["status"] == "fail" and "GPU 7 does not exist" in checks(data)["gpus"]["detail"]
    assert data["lr"] == 0.02  # a laptop can still plan for a bigger box


def test_no_gpu_plans_cpu_workers(cli):
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", fake="none")
    assert data["cpu"] is True and data["gpus_per_node"] == 2 and data["lr"] == 0.005
    assert data["env"]["CUDA_VISIBLE_DEVICES"] == ""


def test_warmup_rescale_is_opt_in(cli):
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "2", fake="eight")
    assert data["warmup_iters"] == 500 and data["resolved"]["warmup_iters"] == 500
    data, _ = plan_json(cli, "--preset", "r50-fpn-1x", "--gpus", "2", "--rescale-warmup", fake="eight")
    assert data["warmup_iters"] == 2000 and data["resolved"]["warmup_iters"] == 2000


@pytest.mark.parametrize("args,message", [
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--preset", "r50-fpn-1x", "--gpu-ids", "a,b"], "comma-separated list"),
    (["--preset", "r50-fpn-1x", "--gpus", "2", "--gpu-ids", "0"], "not allowed with"),
    (["--preset", "r50-fpn-1x", "--nodes", "2"], "--master-addr"),
    (["--preset", "r50-fpn-1x", "--lr", "-1"], "must be > 0"),
    (["--preset", "r50-fpn-1x", "--cfg-options", "novalue"], "KEY=VALUE"),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, message):
    result = cli("plan", *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_demo_plan_writes_its_data_while_the_environment_is_inspected(cli, tmp_path):
    # The first demo on a machine generates the synthetic set (seconds of one core) and
    # inspects the training environment (seconds of another); neither needs the other, so
    # make_plan runs them side by side. The interpreter is the real one, behind a wrapper
    # that stamps when each of its runs starts and ends.
    import sys

    stamps = tmp_path / "stamps"
    wrapper = tmp_path / "python"
    wrapper.write_text(f"""#!/bin/bash
what=$(basename "$1")
echo "start $what $(date +%s.%N)" >> {stamps}
{sys.executable} "$@"
rc=$?
echo "end $what $(date +%s.%N)" >> {stamps}
exit $rc
""")
    wrapper.chmod(0o755)
    data, rc = plan_json(cli, "--preset", "demo-cpu", "--cpu", "--python", str(wrapper))
    assert rc == 0, data["checklist"]
    assert checks(data)["data"]["status"] == "pass", checks(data)["data"]
    times: dict[str, dict[str, float]] = {}
    for line in stamps.read_text().splitlines():
        edge, what, at = line.split()
        times.setdefault(what, {})[edge] = float(at)
    generate, inspect = times["synthetic_data.py"], times["env_inspect.py"]
    # Overlapping runs: each started before the other ended.
    assert generate["start"] < inspect["end"] and inspect["start"] < generate["end"], times
    # Done before the plan was returned, so the checks above saw the complete set.
    assert data["data_root"].endswith("-seed0")
