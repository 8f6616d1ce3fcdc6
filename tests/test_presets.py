"""Presets: shipped ones load; each kind of bad preset is one line naming file and field."""

import os
from pathlib import Path

import pytest

from conftest import modules_after
from launcher.planning.presets import load_presets

SHIPPED = {"r50-fpn-1x", "r50-fpn-2x", "r50-fpn-ms-3x", "r101-fpn-1x", "r101-fpn-2x", "r101-fpn-ms-3x", "demo-cpu"}

GOOD = """
name = "{name}"
description = "mine"
config = "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
base_lr = 0.02
base_batch_size = 16
imgs_per_gpu = 2
epochs = 12
milestones = [8, 11]
warmup_iters = 500
"""


def test_shipped_presets_load_without_errors():
    catalog = load_presets()
    assert catalog.errors == []
    assert SHIPPED <= set(catalog.presets)
    r50 = catalog.get("r50-fpn-1x")
    assert (r50.base_lr, r50.base_batch_size, r50.imgs_per_gpu, r50.epochs, r50.milestones, r50.reference_ap) == \
        (0.02, 16, 2, 12, [8, 11], 37.4)
    assert catalog.get("r101-fpn-ms-3x").effective_epochs == 36
    assert r50.config_path().is_file()


@pytest.mark.parametrize("body,field,problem", [
    ("name = [broken", None, "TOML syntax error"),
    (GOOD + "colour = 'red'\n", "colour", "unknown field"),
    (GOOD.replace("base_lr = 0.02", "base_lr = 'fast'"), "base_lr", "expected a number"),
    (GOOD.replace("base_batch_size = 16", "base_batch_size = -16"), "base_batch_size", "must be > 0"),
    (GOOD.replace("milestones = [8, 11]", "milestones = [8, 13]"), "milestones", "beyond the 12 epochs"),
    (GOOD.replace("faster-rcnn_r50_fpn_1x_coco.py", "nope.py"), "config", "config file not found"),
    (GOOD.replace("milestones = [8, 11]", "milestones = ['8']"), "milestones", "list of positive integers"),
    (GOOD.replace("imgs_per_gpu = 2", "imgs_per_gpu = true"), "imgs_per_gpu", "expected an integer"),
    (GOOD + "lr_rule = 'cubic'\n", "lr_rule", "expected one of linear, sqrt"),
])
def test_bad_preset_is_one_line_and_the_others_still_load(tmp_path, body, field, problem):
    (tmp_path / "good.toml").write_text(GOOD.format(name="mine"))
    (tmp_path / "bad.toml").write_text(body.replace("{name}", "bad"))
    catalog = load_presets([tmp_path])
    assert list(catalog.presets) == ["mine"]
    [err] = catalog.errors
    text = str(err)
    assert "\n" not in text and str(tmp_path / "bad.toml") in text and problem in text
    if field:
        assert f"field '{field}'" in text


def test_lr_rule_follows_the_optimizer_unless_the_preset_names_one(tmp_path):
    from launcher.planning.preview import default_rule

    (tmp_path / "a.toml").write_text(GOOD.format(name="sgd"))
    (tmp_path / "b.toml").write_text(GOOD.format(name="adamw") + 'optimizer = "adamw"\n')
    (tmp_path / "c.toml").write_text(GOOD.format(name="adamw-linear") + 'optimizer = "adamw"\nlr_rule = "linear"\n')
    catalog = load_presets([tmp_path])
    assert catalog.errors == []
    assert [default_rule(catalog.get(n)) for n in ("sgd", "adamw", "adamw-linear")] == ["linear", "sqrt", "linear"]
    assert default_rule(load_presets().get("demo-cpu")) == "linear"


def test_user_preset_overrides_shipped_by_name(frcnn_home):
    user_dir = frcnn_home / "config" / "presets"
    user_dir.mkdir(parents=True)
    (user_dir / "r50.toml").write_text(GOOD.format(name="r50-fpn-1x").replace("mine", "my own r50"))
    catalog = load_presets()
    assert catalog.get("r50-fpn-1x").description == "my own r50"
    assert catalog.get("r50-fpn-1x").source == str(user_dir / "r50.toml")


def test_presets_command_reports_bad_user_preset_but_lists_the_rest(frcnn_home, cli):
    user_dir = frcnn_home / "config" / "presets"
    user_dir.mkdir(parents=True)
    (user_dir / "oops.toml").write_text("name = ")
    result = cli("presets", "--json")
    assert result.returncode == 0
    assert "oops.toml" in result.stderr and "Traceback" not in result.stderr
    assert "r50-fpn-1x" in result.stdout


def test_presets_check_agrees_with_the_real_mmdet_configs(cli):
    result = cli("presets", "--check", "--json")
    import json

    data = json.loads(result.stdout)
    problems = {p["name"]: p["disagreements"] for p in data["presets"]}
    assert all(v == [] for v in problems.values()), problems
    assert result.returncode == 0


def test_presets_check_warns_on_a_disagreeing_preset(frcnn_home, cli):
    user_dir = frcnn_home / "config" / "presets"
    user_dir.mkdir(parents=True)
    (user_dir / "wrong.toml").write_text(GOOD.format(name="wrong").replace("epochs = 12", "epochs = 14"))
    import json

    result = cli("presets", "--check", "--json")
    problems = {p["name"]: p["disagreements"] for p in json.loads(result.stdout)["presets"]}
    assert problems["wrong"] == ["max_epochs: preset says 14, the config has 12"]
    assert result.returncode == 1


def _age(path: Path, seconds: float = 60) -> None:
    """Date the file back: a file modified in the last 2 s is never cached (see _ParseCache)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_a_preset_edited_after_it_was_cached_loads_as_edited(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(GOOD.format(name="mine"))
    _age(path)
    assert load_presets([tmp_path]).get("mine").epochs == 12
    assert load_presets([tmp_path]).get("mine").epochs == 12  # from the cache
    # Same size, same mtime: only the inode tells (an editor that writes a new file and renames it).
    new = tmp_path / "new.toml"
    new.write_text(GOOD.format(name="mine").replace("epochs = 12", "epochs = 13"))
    os.utime(new, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(new, path)
    assert load_presets([tmp_path]).get("mine").epochs == 13
    path.write_text(GOOD.format(name="mine").replace("epochs = 12", "epochs = 24"))  # edited in place
    assert load_presets([tmp_path]).get("mine").epochs == 24
    path.write_text("name = [broken")  # still reported, cached or not
    assert "TOML syntax error" in str(load_presets([tmp_path]).errors[0])


def test_a_corrupt_cache_only_means_parsing_again(frcnn_home):
    fresh = load_presets()
    cache = frcnn_home / "cache" / "presets.marshal"
    assert cache.is_file()
    assert load_presets() == fresh
    cache.write_bytes(b"not marshal")
    assert load_presets() == fresh


def test_a_warm_cache_spares_the_start_up_tomllib(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(GOOD.format(name=name))
        _age(tmp_path / f"{name}.toml")
    code = f"from pathlib import Path\nfrom launcher.planning.presets import load_presets\n" \
           f"assert sorted(load_presets([Path({str(tmp_path)!r})]).presets) == ['a', 'b']"
    assert "tomllib" in modules_after(code)  # the first load parses (and fills the cache)
    assert "tomllib" not in modules_after(code)
