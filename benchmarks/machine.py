"""The machine a benchmark ran on, printed first and stored with every result."""

from __future__ import annotations

import os
import platform


def machine_info() -> dict:
    import torch

    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_machine(info: dict | None = None) -> dict:
    info = info or machine_info()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return info
