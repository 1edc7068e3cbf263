"""The per-task release-gate presets in ``references/gates/presets.yaml``, loaded and checked.

A preset names the release_gate arguments it fills in when a call leaves them out, the floors it puts on the
candidate's run_eval metrics, and the criteria of its task that nothing here measures. The file is data with a
source and a date; this module only reads it, so changing a floor never means changing code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from specialize.runtime.errors import NotFound
from specialize.runtime.workspace import references_root

PRESET_NAMES = ("classification", "extraction", "tool_calling", "generation")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Floor(_Strict):
    metric: str = Field(min_length=1)
    min: float | None = None  # None: a target the eval plan sets
    why: str = Field(min_length=5)


class Unmeasured(_Strict):
    name: str = Field(min_length=1)
    why: str = Field(min_length=10)


class GatePreset(_Strict):
    name: str
    task_types: list[str]
    params: dict[str, Any]
    floors: list[Floor]
    not_measured: list[Unmeasured]
    needs_judge: bool = False


class _File(_Strict):
    source: str = Field(min_length=10)
    as_of: str
    presets: dict[str, dict[str, Any]]


@lru_cache(maxsize=1)
def load_presets() -> dict[str, GatePreset]:
    """Every preset of the file, by name; the file's names must be exactly ``PRESET_NAMES``."""
    raw = _File.model_validate(yaml.safe_load((references_root() / "gates" / "presets.yaml").read_text()))
    if tuple(raw.presets) != PRESET_NAMES:
        raise ValueError(f"references/gates/presets.yaml names {list(raw.presets)}, expected {list(PRESET_NAMES)}")
    return {name: GatePreset(name=name, **body) for name, body in raw.presets.items()}


def preset_source() -> tuple[str, str]:
    """(source, as_of) of the preset file."""
    raw = yaml.safe_load((references_root() / "gates" / "presets.yaml").read_text())
    return raw["source"], raw["as_of"]


def get_preset(name: str) -> GatePreset:
    presets = load_presets()
    if name not in presets:
        raise NotFound(f"No gate preset named {name!r}.", fix=f"Use one of: {', '.join(presets)}.")
    return presets[name]
