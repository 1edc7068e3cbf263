"""The training recipe: a YAML file (``references/recipes/default.yaml``) checked against one pydantic model.

A recipe is the defaults file, then an optional user YAML, then per-call overrides, merged key by key and
validated before any job starts. An unknown or misspelt key, or a value out of range, is an ``InvalidInput``
that names the key (and suggests the nearest known one for a typo).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from specialize.runtime.errors import InvalidInput
from specialize.runtime.workspace import references_root, resolve_path

DEFAULT_RECIPE = "builtin:recipes/default.yaml"
DPO_RECIPE = "builtin:recipes/dpo.yaml"

Auto = Literal["auto"]


class Recipe(BaseModel):
    """Every knob of a fine-tuning run. See references/recipes/default.yaml for the reasoning behind each."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "qlora", "lora"] = "auto"
    use_unsloth: bool | Auto = "auto"
    max_seq_length: int = Field(2048, ge=16, le=262_144)
    lora_r: int = Field(16, ge=1, le=1024)
    lora_alpha: float = Field(32, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lora_layers: int | None = Field(None, ge=1, le=1024)
    learning_rate: float = Field(2e-4, gt=0, le=1.0)
    lr_scheduler_type: Literal["cosine", "linear", "constant", "constant_with_warmup", "cosine_with_restarts",
                               "polynomial", "inverse_sqrt"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0, le=1)
    optim: Literal["auto", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "adamw_8bit",
                   "paged_adamw_32bit", "sgd", "adafactor"] = "auto"
    per_device_train_batch_size: int = Field(2, ge=1, le=4096)
    gradient_accumulation_steps: int = Field(8, ge=1, le=4096)
    num_train_epochs: float = Field(2, gt=0, le=1000)
    max_steps: int = Field(-1, ge=-1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42
    packing: bool = True
    group_by_length: bool = False
    loss_on: Literal["assistant", "all"] = "assistant"
    logging_steps: int = Field(1, ge=1)
    eval_steps: int = Field(100, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int | None = Field(3, ge=1)
    early_stopping: bool = True
    early_stopping_patience: int = Field(3, ge=1)
    bf16: bool | Auto = "auto"
    gradient_checkpointing: bool | Auto = "auto"
    dpo_beta: float = Field(0.1, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> "Recipe":
        if self.max_steps == 0:
            raise ValueError("max_steps must be -1 (use epochs) or a positive step count")
        if isinstance(self.target_modules, list) and not self.target_modules:
            raise ValueError("target_modules is empty: name the projections to adapt, or use 'all-linear'")
        return self


def _explain(exc: ValidationError, source: str) -> InvalidInput:
    known = list(Recipe.model_fields)
    lines, keys = [], []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(recipe)"
        keys.append(key)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            near = difflib.get_close_matches(str(err["loc"][0]), known, n=1)
            msg = "unknown recipe key" + (f" (did you mean '{near[0]}'?)" if near else "")
        elif "input" in err and err["type"] != "value_error":
            msg += f" (got {err['input']!r})"
        lines.append(f"'{key}': {msg}")
    return InvalidInput(f"Bad training recipe ({source}): " + "; ".join(lines) + ".",
                        fix="Correct the named key(s); see builtin:recipes/default.yaml for every key and its range.",
                        keys=keys)


def _read_yaml(ref: str, arg: str) -> dict[str, Any]:
    path = resolve_path(ref, arg=arg, must_exist=True)
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"Recipe file {ref} is not valid YAML: {exc}", fix="Fix the YAML syntax.") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"Recipe file {ref} must hold a mapping of keys to values.", fix="Use `key: value` lines.")
    return data


def load_recipe(recipe: str | None = None, overrides: dict[str, Any] | None = None, *,
                base: tuple[str, ...] = (DEFAULT_RECIPE,)) -> Recipe:
    """Merge the default file(s), the user's recipe file and the overrides; validate; return the recipe."""
    merged: dict[str, Any] = {}
    sources = []
    for ref in base:
        merged.update(_read_yaml(ref, "recipe"))
        sources.append(ref)
    if recipe and recipe not in base:
        merged.update(_read_yaml(recipe, "recipe"))
        sources.append(recipe)
    if overrides:
        merged.update(overrides)
        sources.append("overrides")
    try:
        return Recipe.model_validate(merged)
    except ValidationError as exc:
        raise _explain(exc, " + ".join(sources)) from None


def default_recipe_path() -> Path:
    return references_root() / "recipes" / "default.yaml"
