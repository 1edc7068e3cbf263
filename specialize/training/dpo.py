"""The train_dpo worker: preference tuning with TRL's DPOTrainer and a LoRA adapter.

With a PEFT adapter the reference model is the base model with the adapter switched off, so no second copy
is loaded. Same job machinery, run folder and registry as SFT.
"""

from __future__ import annotations

from typing import Any

from specialize.jobs import JobContext
from specialize.training.common import JobCallback, common_args, finish_run
from specialize.training.prepare import prepare
from specialize.training.sft import _resume_point


def run_dpo(raw: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    prep = prepare("train_dpo", raw, ctx)
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import DPOConfig, DPOTrainer

    from specialize.training.common import load_model

    recipe, method = prep.recipe, prep.method
    ctx.progress(message=f"loading {prep.base_path} for {method.name}", force=True)
    model, peft_cfg = load_model(prep.base_path, method, recipe)
    has_eval = bool(prep.eval)
    args = DPOConfig(**common_args(recipe, method, ctx.run_dir, has_eval), beta=recipe.dpo_beta,
                     max_length=recipe.max_seq_length)
    callback = JobCallback.make(ctx)
    callbacks = [callback]
    if has_eval and recipe.early_stopping:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    trainer = DPOTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(prep.train),
        eval_dataset=Dataset.from_list(prep.eval) if has_eval else None,
        processing_class=prep.tokenizer,
        peft_config=peft_cfg,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=_resume_point(ctx))
    if not trainer.is_world_process_zero():
        return {}
    return finish_run(ctx, trainer, prep.tokenizer, info=prep.info, callback=callback)
