"""The train_qlora worker: supervised fine-tuning with TRL's SFTTrainer and a PEFT LoRA adapter.

Runs inside a job process (``specialize.runtime.jobs``). Resuming (``ctx.resume``) continues from the newest
checkpoint in ``checkpoints/``; the planned step count is the same, so a resumed run ends where the first
attempt would have.
"""

from __future__ import annotations

from typing import Any

from specialize.runtime.jobs import JobContext
from specialize.training.common import JobCallback, common_args, train_and_finish
from specialize.training.prepare import prepare


def run_sft(raw: dict[str, Any], ctx: JobContext, *, report: bool = True) -> dict[str, Any]:
    prep = prepare("train_qlora", raw, ctx)
    if prep.method.unsloth:
        import unsloth  # noqa: F401  (must patch transformers/trl before they load)
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
    trainer_cls = SFTTrainer
    if recipe.group_by_length and not recipe.packing:
        from specialize.training.batching import bucketed_trainer

        trainer_cls = bucketed_trainer(trainer_cls)
    if method.device == "cpu" and not recipe.packing:
        from specialize.training.cpu_head import selective_head_trainer, supports_selective_head

        if supports_selective_head(model):
            trainer_cls = selective_head_trainer(trainer_cls)
            ctx.log("CPU: the LM head projects only the answer positions (specialize/training/cpu_head.py)")
    return train_and_finish(trainer_cls, ctx, prep, model=model, peft_cfg=peft_cfg, args=args,
                            callback=JobCallback.make(ctx), report=report)
