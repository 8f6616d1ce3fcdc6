"""A stand-in for the pynvml module, driven by a JSON inventory.

This is the project's only mock, and it sits at the hardware edge: gpu_probe calls
it exactly as it calls pynvml, so every code path above NVML runs for real.

JSON format (documented in README.md, "Simulated GPUs"):
{
  "driver_version": "550.54.15",
  "cuda_driver_version": 12040,           # NVML's encoding (12.4); "12.4" also accepted
  "init_error": "LibraryNotFound",        # optional: nvmlInit fails (no driver)
  "gpus": [
    {"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-...", "pci_bus_id": "00000000:07:00.0",
     "memory_total_mib": 81920, "memory_used_mib": 0, "utilization_pct": 0,
     "temperature_c": 34, "compute_capability": "8.0",   # optional: unknown when absent
     "processes": [{"pid": 4242, "used_memory_mib": 20000}],
     "not_supported": ["temperature"],    # optional: fields that raise NotSupported
     "lost": false}                       # optional: the GPU fell off the bus
  ]
}
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

MIB = 1024 * 1024


class NVMLError(Exception):
    pass


def _error(kind: str) -> NVMLError:
    return type(f"NVMLError_{kind}", (NVMLError,), {})(kind)


class FakeNVML:
    NVMLError = NVMLError

    def __init__(self, spec: dict[str, Any]):
        if not isinstance(spec, dict) or not isinstance(spec.get("gpus", []), list):
            raise ValueError("expected an object with a 'gpus' list")
        self.spec = spec
        self.gpus: list[dict[str, Any]] = spec.get("gpus", [])
        for i, gpu in enumerate(self.gpus):
            if not isinstance(gpu, dict):
                raise ValueError(f"gpus[{i}] is not an object")

    @classmethod
    def from_file(cls, path: Path) -> "FakeNVML":
        try:
            return cls(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None

    # -- the pynvml functions gpu_probe uses --------------------------------
    def nvmlInit(self) -> None:
        if self.spec.get("init_error"):
            raise _error(str(self.spec["init_error"]))

    def nvmlShutdown(self) -> None:
        pass

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(self.spec.get("driver_version", "unknown"))

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        raw = self.spec.get("cuda_driver_version", 12040)
        if isinstance(raw, str):
            major, _, minor = raw.partition(".")
            return int(major) * 1000 + int(minor or 0) * 10
        return int(raw)

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> dict[str, Any]:
        gpu = self.gpus[index]
        if gpu.get("lost"):
            raise _error("GPUIsLost")
        return gpu

    def _field(self, gpu: dict[str, Any], name: str) -> Any:
        if name in gpu.get("not_supported", []):
            raise _error("NotSupported")
        return gpu.get(name)

    def nvmlDeviceGetName(self, gpu: dict[str, Any]) -> str:
        return self._field(gpu, "name") or "Simulated GPU"

    def nvmlDeviceGetUUID(self, gpu: dict[str, Any]) -> str:
        return self._field(gpu, "uuid") or f"GPU-fake-{self.gpus.index(gpu)}"

    def nvmlDeviceGetPciInfo(self, gpu: dict[str, Any]) -> SimpleNamespace:
        bus = self._field(gpu, "pci_bus_id") or f"00000000:{self.gpus.index(gpu) + 1:02X}:00.0"
        return SimpleNamespace(busId=bus)

    def nvmlDeviceGetMemoryInfo(self, gpu: dict[str, Any]) -> SimpleNamespace:
        total = int(self._field(gpu, "memory_total_mib") or 0)
        used = int(gpu.get("memory_used_mib") or 0)
        return SimpleNamespace(total=total * MIB, used=used * MIB, free=(total - used) * MIB)

    def nvmlDeviceGetUtilizationRates(self, gpu: dict[str, Any]) -> SimpleNamespace:
        return SimpleNamespace(gpu=int(self._field(gpu, "utilization_pct") or 0), memory=0)

    def nvmlDeviceGetTemperature(self, gpu: dict[str, Any], sensor: int) -> int:
        return int(self._field(gpu, "temperature_c") or 0)

    def nvmlDeviceGetCudaComputeCapability(self, gpu: dict[str, Any]) -> tuple[int, int]:
        raw = self._field(gpu, "compute_capability")
        if raw is None:  # older inventories name none: unknown, as NotSupported would make it
            raise _error("NotSupported")
        major, _, minor = str(raw).partition(".")
        return int(major), int(minor or 0)

    def nvmlDeviceGetComputeRunningProcesses(self, gpu: dict[str, Any]) -> list[SimpleNamespace]:
        procs = self._field(gpu, "processes") or []
        return [SimpleNamespace(pid=int(p["pid"]), usedGpuMemory=int(p.get("used_memory_mib", 0)) * MIB)
                for p in procs]
