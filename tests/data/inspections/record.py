"""Records what env_inspect.py prints for each preset's config, for tests that stand in for
make_plan's subprocess (tests/recorded_inspection.py).

Each file holds env_inspect's real output for the preset's config with the preset's own
pre-options and nothing else (no data root, no lr, no seed): the stand-in applies those
per request, as env_inspect would. Re-record after changing a preset or the training stack:

    .venv/bin/python tests/data/inspections/record.py

A stack that cannot import mmcv yet (it compiles for ~20 min) is recorded with the pinned
versions filled in (--pin), since the tests are about the checks, not this machine.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from launcher.planning.presets import load_presets  # noqa: E402
from launcher.stack import training_env  # noqa: E402

PINNED = {"mmcv": "2.1.0", "mmdet": "3.3.0"}  # README's stack


def main() -> int:
    pin = "--pin" in sys.argv
    for preset in load_presets().presets.values():
        pre_options = [[k, v, False] for k, v in preset.cfg_options.items()]
        args = ["--config", preset.config, "--preset-dir", str(Path(preset.source).parent),
                "--pre-options", json.dumps(pre_options)]
        result = training_env.inspect(sys.executable, args)
        versions = result.get("versions") or {}
        if pin:
            for key, version in PINNED.items():
                if not versions.get(key):
                    versions[key] = version
                    (versions.get("import_errors") or {}).pop(key, None)
        versions["executable"] = "/opt/frcnn/.venv/bin/python"  # not this machine's path
        config = result.get("config") or {}
        if "error" in config or "summary" not in config:
            print(f"{preset.name}: {config.get('error') or result.get('error')}", file=sys.stderr)
            return 1
        config["config_path"] = preset.config  # as the preset names it, not where this machine has it
        out = Path(__file__).with_name(f"{Path(preset.config).stem}.json")
        out.write_text(json.dumps({"pre_options": pre_options, "versions": versions, "config": config},
                                  indent=1, sort_keys=True) + "\n")
        print(f"wrote {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
