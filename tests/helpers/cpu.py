"""What this machine's CPU can do, read from /proc/cpuinfo (independent of the code under test)."""

from __future__ import annotations

from pathlib import Path


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def expected_cpu_method() -> str:
    """The training method a CPU run should report: bf16 autocast only with bfloat16 hardware."""
    return "lora-bf16-cpu" if {"amx_tile", "avx512_bf16"} & cpu_flags() else "lora-fp32-cpu"
