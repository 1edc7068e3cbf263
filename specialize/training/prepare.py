"""Everything a training worker settles before the first step: recipe, method, base model, tokenizer, data.

The results are written into the run folder at once (``recipe.yaml``, ``run.json`` with metrics still null),
so a run that fails or is killed still says what it was trying to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from specialize.runtime import registry
from specialize.runtime.jobs import JobContext, write_json_atomic
from specialize.runtime.workspace import resolve_path
from specialize.training import data as tdata
from specialize.training.basemodels import resolve_base_model
from specialize.training.method import Method, resolve_method
from specialize.training.recipe import DEFAULT_RECIPE, DPO_RECIPE, Recipe, load_recipe


def recipe_for(kind: str, raw: dict[str, Any]) -> Recipe:
    base = (DEFAULT_RECIPE, DPO_RECIPE) if kind == "train_dpo" else (DEFAULT_RECIPE,)
    return load_recipe(raw.get("recipe"), raw.get("overrides") or {}, base=base)


@dataclass
class Prepared:
    recipe: Recipe
    method: Method
    base_path: str
    tokenizer: Any
    train: list[dict]
    eval: list[dict] | None
    info: dict[str, Any]


def _dataset_info(ref: str, arg: str, examples: int, rows: int, rejected: int) -> dict[str, Any]:
    path = resolve_path(ref, arg=arg, must_exist=True)
    entry = registry.find_dataset(path)
    return {"version": entry["version"], "path": entry["path"], "rows": rows, "examples": examples,
            "rejected_rows": rejected, "sha256": entry.get("sha256")}


def prepare(kind: str, raw: dict[str, Any], ctx: JobContext, *, log=None) -> Prepared:
    log = log or ctx.log
    run_dir = ctx.run_dir
    recipe = recipe_for(kind, raw)
    method = resolve_method(recipe)
    log(f"method: {method.name} ({method.reason})")
    ctx.progress(message=f"method {method.name}; resolving base model", force=True)
    base = resolve_base_model(raw.get("base_model") or "embedded:smollm2-135m", log=log)
    from specialize.training.common import load_tokenizer

    tok = load_tokenizer(base.path)
    reader = tdata.preference_examples if kind == "train_dpo" else \
        (lambda p: tdata.sft_examples(p, loss_on=recipe.loss_on))
    rejected_path = run_dir / "rejected_rows.jsonl"
    rejected_path.unlink(missing_ok=True)
    sets: dict[str, Any] = {}
    for arg in ("dataset", "eval_dataset"):
        if not raw.get(arg):
            sets[arg] = (None, None)
            continue
        path = resolve_path(raw[arg], arg=arg, must_exist=True)
        examples, rejected, rows = reader(Path(path))
        tdata.require_examples(examples, rejected, rows, arg, path)
        tdata.write_rejected([dict(r, dataset=arg) for r in rejected], rejected_path)
        if rejected:
            log(f"{arg}: {len(rejected)} of {rows} rows rejected (see rejected_rows.jsonl)")
        sets[arg] = (examples, _dataset_info(raw[arg], arg, len(examples), rows, len(rejected)))
    train, train_info = sets["dataset"]
    evals, eval_info = sets["eval_dataset"]
    info = {
        "kind": kind,
        "base_model": raw.get("base_model") or "embedded:smollm2-135m",
        "base_model_path": str(Path(base.path).resolve()) if base.source != "hub" else base.path,
        "base_model_source": base.source,
        "chat_template": tok.chat_template,
        "eos_token": tok.eos_token,
        "method": method.public(),
        "recipe": recipe.model_dump(mode="json"),
        "loss_masking": ("prompt-completion: loss on each assistant turn only" if kind == "train_qlora"
                         and recipe.loss_on == "assistant" else
                         "DPO: log-probabilities of the chosen/rejected responses only" if kind == "train_dpo"
                         else "every token"),
        "early_stopping": bool(recipe.early_stopping and evals),
        "dataset": train_info,
        "eval_dataset": eval_info,
        "adapter_dir": "adapter",
    }
    (run_dir / "recipe.yaml").write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
    write_json_atomic(run_dir / "run.json", {"job_id": ctx.job["job_id"], **info, "metrics": None})
    return Prepared(recipe=recipe, method=method, base_path=base.path, tokenizer=tok, train=train, eval=evals,
                    info=info)
