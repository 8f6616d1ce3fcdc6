"""What the machine has: the NVML probe, and the simulated NVML that stands in for it in tests."""
