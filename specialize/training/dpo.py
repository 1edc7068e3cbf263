"""The train_dpo worker: preference tuning with TRL's DPOTrainer and a LoRA adapter.

With a PEFT adapter the reference model is the base model with the adapter switched off, so no second copy
is loaded. Same job machinery, run folder and registry as SFT.
"""

from __future__ import annotations

from typing import Any

from specialize.runtime.jobs import JobContext
from specialize.training.common import JobCallback, common_args, train_and_finish
from specialize.training.prepare import prepare


def run_dpo(raw: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    prep = prepare("train_dpo", raw, ctx)
    from trl import DPOConfig, DPOTrainer

    from specialize.training.common import load_model

    recipe, method = prep.recipe, prep.method
    ctx.progress(message=f"loading {prep.base_path} for {method.name}", force=True)
    model, peft_cfg = load_model(prep.base_path, method, recipe)
    has_eval = bool(prep.eval)
    args = DPOConfig(**common_args(recipe, method, ctx.run_dir, has_eval), beta=recipe.dpo_beta,
                     max_length=recipe.max_seq_length)
    return train_and_finish(DPOTrainer, ctx, prep, model=model, peft_cfg=peft_cfg, args=args,
                            callback=JobCallback.make(ctx))
