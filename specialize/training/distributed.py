"""Scale-out through ``accelerate launch``: a config generated from the templates TRL ships
(``trl/accelerate_configs/{multi_gpu,fsdp2,zero2,zero3}.yaml``) and the launch command(s) for each machine.

Nothing here distributes work itself; accelerate (with FSDP or DeepSpeed) does. The plan is written into the
run folder (``accelerate.yaml``, ``launch.sh``) whether or not it is run, so it can be read and re-used.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from specialize.runtime.errors import DependencyMissing, InvalidInput

TEMPLATES = {None: "multi_gpu.yaml", "ddp": "multi_gpu.yaml", "fsdp": "fsdp2.yaml",
             "deepspeed_zero2": "zero2.yaml", "deepspeed_zero3": "zero3.yaml"}
ENTRY_MODULE = "specialize.training.launch"


@dataclass
class LaunchPlan:
    config_path: str
    config: dict[str, Any]
    commands: list[str]  # one per machine (machine_rank 0 first)
    num_processes: int
    num_machines: int
    distributed: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"config_path": self.config_path, "config": self.config, "commands": self.commands,
                "num_processes": self.num_processes, "num_machines": self.num_machines,
                "distributed": self.distributed, "notes": self.notes}


def wants_scale_out(num_processes: int, num_machines: int, distributed: str | None) -> bool:
    return num_processes > 1 or num_machines > 1 or distributed is not None


def _template(name: str) -> dict[str, Any]:
    import importlib.util

    spec = importlib.util.find_spec("trl")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissing("Scale-out configs come from TRL's accelerate templates; trl is not installed.",
                                fix="pip install 'specialize[train]'.")
    path = Path(list(spec.submodule_search_locations)[0]) / "accelerate_configs" / name
    return yaml.safe_load(path.read_text())


def gpu_count() -> int:
    """GPUs visible here, without importing torch (``nvidia-smi -L``)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def launcher() -> list[str]:
    """``accelerate launch`` (the console script next to this Python, else the module form)."""
    exe = Path(sys.executable).parent / "accelerate"
    found = str(exe) if exe.exists() else shutil.which("accelerate")
    return [found, "launch"] if found else [sys.executable, "-m", "accelerate.commands.launch"]


def build_plan(run_dir: Path, *, num_processes: int, num_machines: int, distributed: str | None,
               method_name: str, bf16: bool = True, main_process_ip: str = "127.0.0.1",
               main_process_port: int = 29500) -> LaunchPlan:
    """Write ``accelerate.yaml`` and ``launch.sh`` into ``run_dir``; return the plan."""
    if num_processes < num_machines:
        raise InvalidInput(f"num_processes ({num_processes}) is the total over all machines and cannot be below "
                           f"num_machines ({num_machines}).", fix="Give one process per GPU in total.")
    if num_processes % num_machines:
        raise InvalidInput(f"num_processes ({num_processes}) must split evenly over num_machines ({num_machines}).",
                           fix="Use the same GPU count on every machine.")
    cfg = _template(TEMPLATES[distributed])
    cfg.update(num_processes=num_processes, num_machines=num_machines, machine_rank=0,
               mixed_precision="bf16" if bf16 else "fp16")
    notes: list[str] = []
    if num_machines > 1:
        cfg.update(main_process_ip=main_process_ip, main_process_port=main_process_port)
        notes.append("Run the command for machine_rank N on machine N; every machine needs the same workspace "
                     "path (shared filesystem) and must reach main_process_ip:main_process_port.")
    if distributed in ("fsdp", "deepspeed_zero3") and method_name in ("qlora-4bit", "unsloth-qlora"):
        notes.append("Sharding 4-bit weights needs bnb_4bit_quant_storage equal to the compute dtype; the worker "
                     "sets it when the launch is FSDP or ZeRO-3.")
    if distributed is not None and distributed.startswith("deepspeed"):
        notes.append("DeepSpeed must be installed on every machine (pip install deepspeed).")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "accelerate.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=True))
    commands = []
    for rank in range(num_machines):
        argv = [*launcher(), "--config_file", str(config_path)]
        if num_machines > 1:
            argv += ["--machine_rank", str(rank)]
        argv += ["-m", ENTRY_MODULE, str(run_dir)]
        commands.append(shlex.join(argv))
    (run_dir / "launch.sh").write_text("#!/bin/sh\n# one line per machine; run line N on machine_rank N\n"
                                       + "\n".join(commands) + "\n")
    return LaunchPlan(config_path=str(config_path), config=cfg, commands=commands, num_processes=num_processes,
                      num_machines=num_machines, distributed=distributed or "ddp", notes=notes)
