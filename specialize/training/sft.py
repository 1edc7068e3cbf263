"""The train_qlora worker: supervised fine-tuning with TRL's SFTTrainer and a PEFT LoRA adapter.

Runs inside a job process (``specialize.jobs``). Resuming (``ctx.resume``) continues from the newest
checkpoint in ``checkpoints/``; the planned step count is the same, so a resumed run ends where the first
attempt would have.
"""

from __future__ import annotations

from typing import Any

from specialize.jobs import JobContext
from specialize.training.common import JobCallback, common_args, finish_run, last_checkpoint
from specialize.training.prepare import prepare


def _resume_point(ctx: JobContext) -> str | None:
    if not ctx.resume:
        return None
    ckpt = last_checkpoint(ctx.run_dir, log=ctx.log)
    ctx.log(f"resume: continuing from {ckpt}" if ckpt else "resume: no checkpoint yet, starting from step 0")
    return ckpt


def run_sft(raw: dict[str, Any], ctx: JobContext, *, report: bool = True) -> dict[str, Any]:
    prep = prepare("train_qlora", raw, ctx)
    if prep.method.unsloth:
        import unsloth  # noqa: F401  (must patch transformers/trl before they load)
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTConfig, SFTTrainer

    from specialize.training.common import load_model

    recipe, method = prep.recipe, prep.method
    ctx.progress(message=f"loading {prep.base_path} for {method.name}", force=True)
    model, peft_cfg = load_model(prep.base_path, method, recipe)
    has_eval = bool(prep.eval)
    args = SFTConfig(
        **common_args(recipe, method, ctx.run_dir, has_eval),
        max_length=recipe.max_seq_length,
        packing=recipe.packing,
        completion_only_loss=True if recipe.loss_on == "assistant" else None,
        dataset_num_proc=None,
    )
    callback = JobCallback.make(ctx)
    callbacks = [callback] if report else []
    if has_eval and recipe.early_stopping:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    trainer = SFTTrainer(
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
