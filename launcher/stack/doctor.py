"""`frcnn-tui doctor`: can a Faster R-CNN train here? One line per check, a fix on every failure."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from launcher.stack import training_env
from launcher.hardware.gpu_probe import probe


@dataclass
class DoctorLine:
    name: str
    ok: bool
    detail: str
    hint: str = ""
    required: bool = True


_HINTS = {
    "torch": "make run installs torch==2.13.0 (CPU); on a GPU box install the CUDA torch you want first",
    "mmcv": "make run builds mmcv 2.1.0 with ops (scripts/bootstrap.sh); see README 'Troubleshooting'",
    "mmdet": "pip install mmdet==3.3.0 (it needs mmcv>=2.0,<2.2)",
    "mmengine": "pip install mmengine==0.10.7",
    "cv2": "pip install opencv-python",
    "pycocotools": "pip install pycocotools",
}


def run_doctor(python: str | None = None) -> tuple[list[DoctorLine], dict[str, Any]]:
    interpreter = training_env.training_python(python)
    report = training_env.inspect(interpreter, ["--ops"])
    lines: list[DoctorLine] = []
    if "error" in report:
        lines.append(DoctorLine("interpreter", False, report["error"], f"check --python {interpreter}"))
        return lines, report
    v = report["versions"]
    errors = v.get("import_errors", {})
    lines.append(DoctorLine("python", True, f"{v['python']} ({v['executable']})"))
    for key in ("torch", "mmcv", "mmdet", "mmengine", "cv2", "pycocotools"):
        ok = bool(v.get(key))
        lines.append(DoctorLine(key, ok, v.get(key) or errors.get(key, "not installed"), "" if ok else _HINTS[key]))
    if v.get("torch"):
        cuda = v.get("cuda_build")
        detail = (f"CUDA {cuda} build, {v.get('cuda_device_count', 0)} device(s) visible" if v.get("cuda_available")
                  else f"CUDA build {cuda}, but no device visible" if cuda else "CPU build (training runs on CPU with gloo)")
        if v.get("mmcv_cuda"):  # what mmcv's compiled ops were built for: 'not available' is CPU ops only
            detail += f"; mmcv ops: CUDA {v['mmcv_cuda']}"
        lines.append(DoctorLine("cuda", True, detail, required=False))
    inv = probe()
    nvml_detail = (f"{len(inv.gpus)} GPU(s), driver {inv.driver_version}, CUDA driver {inv.cuda_driver_version}"
                   if inv.gpus else inv.error or "no GPU")
    lines.append(DoctorLine("nvml", bool(inv.gpus), nvml_detail,
                            "" if inv.gpus else "no GPU: frcnn-tui uses CPU gloo workers", required=False))
    for op, result in (report.get("ops") or {}).items():
        name = {"roi_align": "RoIAlign", "batched_nms": "batched_nms"}.get(op, op)
        lines.append(DoctorLine(f"mmcv.ops.{name}", result == "ok", "OK" if result == "ok" else result,
                                "" if result == "ok" else _HINTS["mmcv"]))
    return lines, report


def can_train(lines: list[DoctorLine]) -> bool:
    return all(line.ok for line in lines if line.required)


def to_json(lines: list[DoctorLine], report: dict[str, Any]) -> dict[str, Any]:
    return {"ok": can_train(lines), "checks": [asdict(line) for line in lines], "report": report}
