"""NVML scenarios through the fake library at the hardware edge, and the real NVML here."""

import json

from launcher.hardware.fake_nvml import FakeNVML
from launcher.hardware.gpu_probe import inventory_from_json, probe, probe_with


def test_real_nvml_without_driver_is_an_empty_inventory_with_a_reason():
    # This machine has no NVIDIA driver: the real pynvml raises, the probe turns it into a value.
    inv = probe()
    if inv.gpus:  # a GPU machine: nothing to assert about the failure path
        return
    assert inv.gpus == [] and inv.error
    assert "NVML" in inv.error or "pynvml" in inv.error


def test_no_driver(fake_gpus):
    fake_gpus("none")
    inv = probe()
    assert inv.gpus == [] and "LibraryNotFound" in inv.error


def test_one_gpu(fake_gpus):
    fake_gpus("one")
    inv = probe()
    assert inv.error is None and len(inv.gpus) == 1
    g = inv.gpus[0]
    assert (g.name, g.memory_total_mib, g.memory_used_mib, g.memory_free_mib) == ("NVIDIA GeForce RTX 4090", 24564, 512, 24052)
    assert g.temperature_c == 41 and g.utilization_pct == 3 and g.is_free
    assert inv.driver_version == "550.54.15" and inv.cuda_driver_version == "12.4"


def test_eight_gpus_in_pci_order(fake_gpus):
    fake_gpus("eight")
    inv = probe()
    assert [g.index for g in inv.gpus] == list(range(8))
    buses = [g.pci_bus_id for g in inv.gpus]
    assert buses == sorted(buses)


def test_mixed_models_not_supported_field_and_lost_gpu(fake_gpus):
    fake_gpus("mixed")
    inv = probe()
    assert len(inv.gpus) == 3
    v100 = inv.by_index(1)
    assert v100.name.startswith("Tesla V100") and v100.temperature_c is None  # NotSupported -> unknown
    assert v100.memory_total_mib == 16160  # the other fields still read
    lost = inv.by_index(2)
    assert lost.error and lost.name is None and not lost.is_free
    assert inv.cuda_driver_version == "12.2"


def test_busy_gpu_lists_its_process(fake_gpus):
    fake_gpus("four_one_busy")
    inv = probe()
    busy = inv.by_index(1)
    assert not busy.is_free and busy.processes[0].pid == 999999 and busy.processes[0].used_memory_mib == 18000
    assert [g.index for g in inv.gpus if g.is_free] == [0, 2, 3]


def test_broken_fake_file_is_an_error_value(tmp_path, monkeypatch):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    monkeypatch.setenv("FRCNN_TUI_FAKE_GPUS", str(bad))
    inv = probe()
    assert inv.gpus == [] and "invalid JSON" in inv.error


def test_a_gpu_that_raises_on_every_call_does_not_hide_the_others():
    class Flaky(FakeNVML):
        def nvmlDeviceGetMemoryInfo(self, gpu):
            if gpu.get("uuid") == "GPU-b":
                raise self.NVMLError("Unknown")
            return super().nvmlDeviceGetMemoryInfo(gpu)

    lib = Flaky({"gpus": [{"uuid": "GPU-a", "memory_total_mib": 100}, {"uuid": "GPU-b", "memory_total_mib": 100}]})
    inv = probe_with(lib)
    assert inv.gpus[0].memory_total_mib == 100 and inv.gpus[1].memory_total_mib is None


def test_inventory_round_trips_through_json(fake_gpus):
    fake_gpus("four_one_busy")
    inv = probe()
    assert inventory_from_json(json.dumps(inv.to_dict())) == inv
