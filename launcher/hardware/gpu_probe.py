"""GPU inventory through NVML (nvidia-ml-py), where every failure is a value.

Like nvitop's api/, each NVML call goes through one helper that turns an NVML
error into None ("unknown"), so a NotSupported field or a lost GPU never takes the
listing down. No driver at all gives an empty inventory with the reason.

FRCNN_TUI_FAKE_GPUS=path.json loads a simulated inventory instead (planning a GPU
box from a laptop, and tests). It goes through the same code path as NVML: the
fake is a stand-in for the pynvml module, nothing above it changes.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

FAKE_ENV = "FRCNN_TUI_FAKE_GPUS"
MIB = 1024 * 1024


@dataclass
class GPUProcess:
    pid: int
    used_memory_mib: int | None
    user: str | None = None
    command: str | None = None


@dataclass
class GPUInfo:
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    memory_free_mib: int | None = None
    utilization_pct: int | None = None
    temperature_c: int | None = None
    processes: list[GPUProcess] | None = None
    compute_capability: str | None = None  # "9.0": what mmcv's CUDA ops are compiled for
    error: str | None = None  # set when the whole GPU is lost / unreadable

    @property
    def is_free(self) -> bool:
        """No compute process on it (unknown counts as not free: we can't promise)."""
        return self.error is None and self.processes is not None and not self.processes


@dataclass
class Inventory:
    gpus: list[GPUInfo] = field(default_factory=list)
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    error: str | None = None  # why the list is empty (no library, no driver, ...)
    source: str = "nvml"  # "nvml" or "fake:<path>"

    def by_index(self, index: int) -> GPUInfo | None:
        return next((g for g in self.gpus if g.index == index), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version_text(raw: int) -> str:
    # NVML encodes 12.4 as 12040.
    return f"{raw // 1000}.{(raw % 1000) // 10}"


def _process_details(pid: int) -> tuple[str | None, str | None]:
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.username(), " ".join(proc.cmdline()) or proc.name()
    except Exception:  # gone, or another user's process we may not inspect
        return None, None


def _read_gpu(nvml: Any, index: int, query: Callable[..., Any]) -> GPUInfo:
    handle = query(nvml.nvmlDeviceGetHandleByIndex, index)
    if handle is None:
        return GPUInfo(index=index, error="unreachable (lost GPU or no permission)")
    info = GPUInfo(index=index)
    name = query(nvml.nvmlDeviceGetName, handle)
    info.name = _text(name) if name is not None else None
    uuid = query(nvml.nvmlDeviceGetUUID, handle)
    info.uuid = _text(uuid) if uuid is not None else None
    pci = query(nvml.nvmlDeviceGetPciInfo, handle)
    if pci is not None:
        info.pci_bus_id = _text(getattr(pci, "busId", None) or getattr(pci, "busIdLegacy", ""))
    mem = query(nvml.nvmlDeviceGetMemoryInfo, handle)
    if mem is not None:
        info.memory_total_mib = int(mem.total) // MIB
        info.memory_used_mib = int(mem.used) // MIB
        info.memory_free_mib = int(mem.free) // MIB
    util = query(nvml.nvmlDeviceGetUtilizationRates, handle)
    if util is not None:
        info.utilization_pct = int(util.gpu)
    temp = query(nvml.nvmlDeviceGetTemperature, handle, 0)  # 0 = NVML_TEMPERATURE_GPU
    if temp is not None:
        info.temperature_c = int(temp)
    capability = query(nvml.nvmlDeviceGetCudaComputeCapability, handle)
    if capability is not None:
        info.compute_capability = f"{int(capability[0])}.{int(capability[1])}"
    procs = query(nvml.nvmlDeviceGetComputeRunningProcesses, handle)
    if procs is not None:
        info.processes = []
        for p in procs:
            used = getattr(p, "usedGpuMemory", None)
            user, command = _process_details(int(p.pid))
            info.processes.append(GPUProcess(
                pid=int(p.pid),
                used_memory_mib=int(used) // MIB if isinstance(used, int) else None,
                user=user, command=command,
            ))
    return info


def probe_with(nvml: Any, source: str = "nvml") -> Inventory:
    """Read the inventory from an NVML-like module (the real pynvml, or the fake)."""
    error_type = getattr(nvml, "NVMLError", Exception)

    def query(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except error_type:
            return None

    try:
        nvml.nvmlInit()
    except error_type as exc:
        return Inventory(error=f"NVML unavailable: {exc}", source=source)
    except OSError as exc:  # e.g. a broken libnvidia-ml.so
        return Inventory(error=f"NVML unavailable: {exc}", source=source)
    try:
        inv = Inventory(source=source)
        driver = query(nvml.nvmlSystemGetDriverVersion)
        inv.driver_version = _text(driver) if driver is not None else None
        cuda = query(nvml.nvmlSystemGetCudaDriverVersion)
        inv.cuda_driver_version = _cuda_version_text(int(cuda)) if cuda is not None else None
        count = query(nvml.nvmlDeviceGetCount)
        if count is None:
            inv.error = "NVML could not count the GPUs"
            return inv
        inv.gpus = [_read_gpu(nvml, i, query) for i in range(int(count))]
        # NVML enumerates in PCI order already; sorting makes that explicit and
        # matches CUDA_DEVICE_ORDER=PCI_BUS_ID on the launch side.
        inv.gpus.sort(key=lambda g: (g.pci_bus_id is None, g.pci_bus_id or "", g.index))
        if not inv.gpus:
            inv.error = "NVML found no GPU"
        return inv
    finally:
        query(nvml.nvmlShutdown)


def probe() -> Inventory:
    """The current inventory: simulated when FRCNN_TUI_FAKE_GPUS is set, else NVML."""
    fake = os.environ.get(FAKE_ENV)
    if fake:
        from launcher.hardware.fake_nvml import FakeNVML

        try:
            lib = FakeNVML.from_file(Path(fake))
        except (OSError, ValueError) as exc:
            return Inventory(error=f"{FAKE_ENV}={fake}: {exc}", source=f"fake:{fake}")
        return probe_with(lib, source=f"fake:{fake}")
    try:
        import pynvml
    except ImportError:
        return Inventory(error="nvidia-ml-py (pynvml) is not installed")
    return probe_with(pynvml)


def inventory_from_json(text: str) -> Inventory:
    """Inverse of Inventory.to_dict, for inventories passed between processes."""
    data = json.loads(text)
    gpus = []
    for g in data.get("gpus", []):
        procs = g.get("processes")
        g = dict(g, processes=None if procs is None else [GPUProcess(**p) for p in procs])
        gpus.append(GPUInfo(**g))
    return Inventory(**{**data, "gpus": gpus})
