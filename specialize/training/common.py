"""Pieces both trainers share: model + tokenizer loading per method, the LoRA config, the TrainingArguments
that every run sets the same way, the job callback, and the run folder (adapter, run.json, registry entry).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from specialize.runtime import registry, tracking
from specialize.runtime.errors import InvalidInput
from specialize.runtime.jobs import JobContext, write_json_atomic
from specialize.training.method import Method
from specialize.training.recipe import Recipe


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if not tok.chat_template:
        raise InvalidInput(f"The base model at {path} has no chat template, so chat rows cannot be rendered.",
                           fix="Use an instruct/chat model, or add a chat_template to its tokenizer_config.json.")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(path: str, method: Method, recipe: Recipe):
    """The base model for ``method``; with Unsloth the LoRA adapter is attached here (returns model, peft_cfg)."""
    import torch

    if method.unsloth:
        from unsloth import FastLanguageModel  # noqa: I001  (imported before transformers patches)

        model, _ = FastLanguageModel.from_pretrained(model_name=path, max_seq_length=recipe.max_seq_length,
                                                     load_in_4bit=True, dtype=None)
        model = FastLanguageModel.get_peft_model(
            model, r=recipe.lora_r, layers_to_transform=adapted_layers(recipe, model.config), lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
            target_modules=recipe.target_modules, bias="none", random_state=recipe.seed,
            use_gradient_checkpointing="unsloth" if method.gradient_checkpointing else False)
        return model, None
    from transformers import AutoModelForCausalLM

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[method.dtype]
    kwargs: dict[str, Any] = {"dtype": dtype}
    if method.load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype)
        import os

        sharded = os.environ.get("ACCELERATE_USE_FSDP") == "true" or \
            os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
        if sharded:  # FSDP / ZeRO-3 shard the 4-bit weights: store them in the compute dtype
            kwargs["quantization_config"].bnb_4bit_quant_storage = dtype
        else:
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model, lora_config(recipe, model.config)


def adapted_layers(recipe: Recipe, config: Any) -> list[int] | None:
    """The decoder layers that get LoRA weights: all (None), or the last ``recipe.lora_layers``.

    Adapting only the top of the network is the cheap end of LoRA: nothing below the lowest adapted layer
    needs a gradient, so the backward pass stops there (on a CPU that is most of the cost of a step)."""
    if recipe.lora_layers is None:
        return None
    total = int(getattr(config, "num_hidden_layers", 0) or 0)
    if total <= 0:
        raise InvalidInput("lora_layers needs the model's layer count, and its config has no num_hidden_layers.",
                           fix="Leave lora_layers unset (adapt every layer) for this model.")
    if recipe.lora_layers >= total:
        return None
    return list(range(total - recipe.lora_layers, total))


def lora_config(recipe: Recipe, config: Any = None):
    from peft import LoraConfig

    layers = adapted_layers(recipe, config) if config is not None else None
    return LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha, lora_dropout=recipe.lora_dropout,
                      target_modules=recipe.target_modules, bias="none", task_type="CAUSAL_LM",
                      layers_to_transform=layers)


def common_args(recipe: Recipe, method: Method, run_dir: Path, has_eval: bool) -> dict[str, Any]:
    """TrainingArguments fields every run sets; hardware-dependent ones come from the resolved method."""
    early = recipe.early_stopping and has_eval
    return dict(
        output_dir=str(run_dir / "checkpoints"),
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler_type,
        warmup_steps=recipe.warmup_ratio,  # transformers 5: a float below 1 is a fraction of all steps
        weight_decay=recipe.weight_decay,
        optim=method.optim,
        per_device_train_batch_size=recipe.per_device_train_batch_size,
        per_device_eval_batch_size=recipe.per_device_train_batch_size,
        gradient_accumulation_steps=recipe.gradient_accumulation_steps,
        num_train_epochs=recipe.num_train_epochs,
        max_steps=recipe.max_steps,
        max_grad_norm=recipe.max_grad_norm,
        seed=recipe.seed,
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=recipe.eval_steps if has_eval else None,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        # TRL's own defaults assume a GPU (bf16 on, gradient checkpointing on); the method decides instead.
        bf16=method.bf16,
        fp16=method.device == "cuda" and not method.bf16,
        use_cpu=method.device == "cpu",  # transformers refuses bf16 autocast without CUDA unless told it is a CPU run
        gradient_checkpointing=method.gradient_checkpointing,
        include_num_input_tokens_seen="all",
        report_to=tracking.report_to(),  # transformers' own MLflow integration, into the run training_run opens
        disable_tqdm=True,
        dataloader_pin_memory=method.device == "cuda",
        # Batches of similar length waste less compute on padding (rows of one task vary 5x in length).
        train_sampling_strategy="group_by_length" if recipe.group_by_length else "random",
    )


class JobCallback:
    """Factory for a TrainerCallback that reports to the job (built lazily: transformers loads in the worker)."""

    @staticmethod
    def make(ctx: JobContext):
        from transformers import TrainerCallback

        class _Cb(TrainerCallback):
            def __init__(self) -> None:
                self.t_last = time.perf_counter()
                self.tok_last = 0
                self.t_begin = self.t_last
                self.tok_begin = 0
                self.tps: float | None = None
                self.step_begin: int | None = None  # first step of this attempt (a resume starts later)

            def on_train_begin(self, args, state, control, **kw):
                self.t_last = self.t_begin = time.perf_counter()
                self.tok_last = self.tok_begin = int(state.num_input_tokens_seen or 0)
                self.step_begin = state.global_step
                ctx.progress(state.global_step, state.max_steps, message=f"training: {state.max_steps} steps",
                             force=True)

            def on_step_end(self, args, state, control, **kw):
                if self.step_begin is None:
                    self.step_begin = state.global_step - 1
                done = state.global_step - self.step_begin
                elapsed = time.perf_counter() - self.t_begin
                eta = round(elapsed / done * (state.max_steps - state.global_step), 1) if done > 0 else None
                ctx.progress(state.global_step, state.max_steps, metrics={"eta_seconds": eta},
                             message=f"step {state.global_step}/{state.max_steps}")

            def on_log(self, args, state, control, logs=None, **kw):
                logs = dict(logs or {})
                now, seen = time.perf_counter(), int(state.num_input_tokens_seen or 0)
                if seen > self.tok_last and now > self.t_last:
                    self.tps = (seen - self.tok_last) / (now - self.t_last)
                    self.t_last, self.tok_last = now, seen
                row = {"step": state.global_step, "total": state.max_steps, "epoch": state.epoch}
                for key in ("loss", "learning_rate", "grad_norm", "eval_loss", "train_loss", "train_runtime"):
                    if key in logs:
                        row[key] = logs[key]
                row.update({k: v for k, v in logs.items() if k.startswith(("rewards/", "eval_"))})
                if self.tps is not None:
                    row["tokens_per_second"] = round(self.tps, 1)
                row["tokens_seen"] = seen
                ctx.log_metrics(row)

            def average_tps(self, state) -> float | None:
                seen, dt = int(state.num_input_tokens_seen or 0) - self.tok_begin, time.perf_counter() - self.t_begin
                return round(seen / dt, 1) if seen > 0 and dt > 0 else None

        return _Cb()


def last_checkpoint(run_dir: Path, log=None) -> str | None:
    """The newest complete checkpoint. A process killed while saving leaves a partial folder behind;
    ``trainer_state.json`` is written after the weights, optimizer and RNG state, so a folder whose state
    file parses is complete."""
    import re

    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return None
    found = sorted((int(m.group(1)), p) for p in folder.iterdir()
                   if p.is_dir() and (m := re.fullmatch(r"checkpoint-(\d+)", p.name)))
    for _, path in reversed(found):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return str(path)
        except (OSError, ValueError):
            if log:
                log(f"skipping incomplete checkpoint {path.name} (the run stopped while saving it)")
    return None


def loss_curve(run_dir: Path, key: str = "loss") -> list[float]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row.get(key), (int, float)):
            out.append(float(row[key]))
    return out


def finish_run(ctx: JobContext, trainer, tok, *, info: dict[str, Any], callback) -> dict[str, Any]:
    """Save adapter + tokenizer, evaluate, write run.json, append to the registry; return run.json's content."""
    run_dir = ctx.run_dir
    adapter = run_dir / "adapter"
    trainer.model.save_pretrained(str(adapter))
    tok.save_pretrained(str(adapter))
    eval_loss = None
    if trainer.eval_dataset is not None:
        ctx.progress(message="final evaluation", force=True)
        eval_loss = trainer.evaluate().get("eval_loss")
    losses = loss_curve(run_dir)
    metrics = {
        "train_loss_first": losses[0] if losses else None,
        "train_loss_last": losses[-1] if losses else None,
        "eval_loss": eval_loss,
        "steps": trainer.state.global_step,
        "planned_steps": trainer.state.max_steps,
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "tokens_per_second": callback.average_tps(trainer.state),
        "epochs": trainer.state.epoch,
        "best_checkpoint": trainer.state.best_model_checkpoint,
    }
    run = {"job_id": ctx.job["job_id"], **info, "metrics": metrics, "adapter_dir": "adapter"}
    write_json_atomic(run_dir / "run.json", run)
    registry.record_run({**run, "run_dir": str(run_dir)})
    ctx.progress(trainer.state.global_step, trainer.state.max_steps, metrics={"eval_loss": eval_loss},
                 message="done", force=True)
    return run


def resume_point(ctx: JobContext) -> str | None:
    """The checkpoint a resumed job continues from (None on a first attempt or before the first save)."""
    if not ctx.resume:
        return None
    ckpt = last_checkpoint(ctx.run_dir, log=ctx.log)
    ctx.log(f"resume: continuing from {ckpt}" if ckpt else "resume: no checkpoint yet, starting from step 0")
    return ckpt


def train_and_finish(trainer_cls, ctx: JobContext, prep, *, model, peft_cfg, args, callback,
                     report: bool = True) -> dict[str, Any]:
    """Build a TRL trainer (SFT or DPO) with the job callback and early stopping, train, and write the run."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    has_eval = bool(prep.eval)
    callbacks = [callback] if report else []
    if has_eval and prep.recipe.early_stopping:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=prep.recipe.early_stopping_patience))
    info = prep.info
    with tracking.training_run(info["kind"], job_id=ctx.job["job_id"],
                               tags={"base_model": info["base_model"],
                                     "dataset.train": (info.get("dataset") or {}).get("version")}) as tracked:
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(prep.train),
            eval_dataset=Dataset.from_list(prep.eval) if has_eval else None,
            processing_class=prep.tokenizer,
            peft_config=peft_cfg,
            callbacks=callbacks,
        )
        trainer.train(resume_from_checkpoint=resume_point(ctx))
        if not trainer.is_world_process_zero():
            return {}
        run = finish_run(ctx, trainer, prep.tokenizer, info=info, callback=callback)
        tracked.finish(params={k: info.get(k) for k in ("kind", "base_model", "base_model_source", "method",
                                                        "recipe", "dataset", "eval_dataset", "loss_masking")},
                       metrics={"final": run["metrics"]}, artifacts={"run_dir": str(ctx.run_dir),
                                                                     "adapter": str(ctx.run_dir / "adapter")})
        return run
