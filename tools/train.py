"""Fine-tuning tools: train_qlora (supervised LoRA/QLoRA) and train_resume (continue a stopped run).

Both start a job and return its handle at once; follow it with job_status / job_logs, stop it with
job_cancel. Everything that can be checked without loading a model — the recipe, the paths, the method the
hardware allows, a scale-out plan — is checked before the job starts, so a bad call fails in well under a
second and names what is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from specialize.tools.job_tools import JobHandle, to_handle

from specialize.runtime import jobs
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput, JobError
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, NameOrFile, NameOrPath, resolve_path
from specialize.training.recipe import DEFAULT_RECIPE, Recipe

ENTRIES = {"train_qlora": "specialize.training.sft:run_sft", "train_dpo": "specialize.training.dpo:run_dpo"}
LAUNCHED = "specialize.training.launch:run_launched"


class TrainCommon(Params):
    dataset: InputFile = Field(description="Training data: a JSONL file in the workspace (chat rows for train_qlora, "
                                     "preference pairs for train_dpo).")
    eval_dataset: InputFile | None = Field(None, description="Held-out JSONL of the same shape: eval loss every "
                                                       "eval_steps, and early stopping when the recipe asks for it.")
    base_model: NameOrPath = Field("embedded:smollm2-135m", description="Base model: 'embedded:smollm2-135m', a "
                                   "Hugging "
                            "Face model folder, a .gguf file (dequantized once), or a hub id (needs network).")
    recipe: NameOrFile = Field(DEFAULT_RECIPE, description="Recipe YAML laid over the defaults "
                                                     "(builtin:recipes/default.yaml).")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Recipe keys to change for this run, e.g. "
                                      "{\"lora_r\": 8, \"max_steps\": 200}; unknown keys are refused.")
    num_processes: int = Field(1, ge=1, le=4096, description="Processes (GPUs) in total; > 1 trains through "
                                                            "`accelerate launch`.")
    num_machines: int = Field(1, ge=1, le=512, description="Machines taking part (multi-node when > 1).")
    distributed: Literal["ddp", "fsdp", "deepspeed_zero2", "deepspeed_zero3"] | None = Field(
        None, description="Sharding for scale-out: ddp (replicas), fsdp (FSDP2), deepspeed_zero2 or deepspeed_zero3.")
    main_process_ip: str = Field("127.0.0.1", description="Address of machine 0 for multi-node runs.")
    dry_run: bool = Field(False, description="Only write the accelerate config and launch command into a run "
                                             "folder and return them; nothing trains.")
    label: str | None = Field(None, description="A short name shown in list_jobs.")


class TrainQloraParams(TrainCommon):
    pass


class LaunchPlanOut(Result):
    config_path: str = Field(description="The generated accelerate config (YAML).")
    config: dict[str, Any] = Field(description="Its content, in accelerate's own config format (the keys "
                                               "depend on the distributed mode, e.g. fsdp_config or "
                                               "deepspeed_config).")
    commands: list[str] = Field(description="The `accelerate launch` command, one per machine (machine_rank order).")
    num_processes: int = Field(description="Processes in total.")
    num_machines: int = Field(description="Machines.")
    distributed: str = Field(description="ddp, fsdp, deepspeed_zero2 or deepspeed_zero3.")
    notes: list[str] = Field(default_factory=list, description="What to check before running it.")


class TrainHandle(Result):
    job_id: str | None = Field(None, description="Id for job_status / job_logs / job_cancel / train_resume "
                                                 "(none for a dry run).")
    run_dir: str = Field(description="The run folder: run.json, recipe.yaml, metrics.jsonl, checkpoints/, adapter/.")
    kind: str = Field(description="train_qlora or train_dpo.")
    state: str = Field(description="'queued' for a started job, 'planned' for a dry run.")
    method_hint: str = Field(description="The method this machine will use (the worker confirms it in run.json).")
    launch: LaunchPlanOut | None = Field(None, description="The scale-out plan, when more than one process "
                                                            "or a sharding mode was asked for.")


def _cuda_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists()


def check_request(kind: str, p: TrainCommon) -> Recipe:
    """Every check that needs no model: recipe, paths, hardware/method, recipe consistency."""
    from specialize.training.prepare import recipe_for

    recipe = recipe_for(kind, p.model_dump())
    resolve_path(p.dataset, arg="dataset", must_exist=True)
    if p.eval_dataset:
        resolve_path(p.eval_dataset, arg="eval_dataset", must_exist=True)
    if recipe.method == "qlora" and not _cuda_visible():
        raise InvalidInput("Recipe key 'method' is 'qlora', which needs a CUDA GPU; none is visible here.",
                           fix="Use method: auto (LoRA in fp32 on CPU) or run on a GPU machine.")
    if p.eval_dataset and recipe.early_stopping and recipe.save_steps % recipe.eval_steps:
        raise InvalidInput(f"Recipe keys 'save_steps' ({recipe.save_steps}) and 'eval_steps' ({recipe.eval_steps}): "
                           "early stopping keeps the best checkpoint, so save_steps must be a multiple of eval_steps.",
                           fix="Make save_steps a multiple of eval_steps, or set early_stopping: false.")
    return recipe


def _method_hint(recipe: Recipe) -> str:
    from specialize.training.method import resolve_method

    cuda = _cuda_visible()
    try:
        # without CUDA the CPU's own bf16 support decides (resolve_method probes it)
        return resolve_method(recipe, cuda=cuda, bf16_ok=True if cuda else None).name
    except Exception as exc:  # the worker raises the same error with its fix; here it is only a hint
        return f"unresolved: {exc}"


def start_training(kind: str, p: TrainCommon) -> TrainHandle:
    from specialize.training import distributed as dist

    recipe = check_request(kind, p)
    hint = _method_hint(recipe)
    if not dist.wants_scale_out(p.num_processes, p.num_machines, p.distributed):
        if p.dry_run:
            raise InvalidInput("dry_run only applies to scale-out (num_processes > 1, num_machines > 1 or distributed).",
                               fix="Drop dry_run, or ask for a distributed plan.")
        handle = jobs.start_job(kind, ENTRIES[kind], p, label=p.label)
        return TrainHandle(**to_handle(handle).model_dump(), method_hint=hint)
    gpus = dist.gpu_count()
    per_machine = p.num_processes // max(1, p.num_machines)
    if not p.dry_run and p.num_machines > 1:
        raise InvalidInput("A multi-machine run cannot be started from one machine's job runner.",
                           fix="Call with dry_run: true and run the returned command on each machine.")
    if not p.dry_run and per_machine > gpus:
        raise InvalidInput(f"num_processes={p.num_processes} asks for {per_machine} GPU(s) on this machine, which "
                           f"has {gpus}.", fix="Lower num_processes, run on a machine with enough GPUs, or pass "
                                               "dry_run: true to get the config and command only.")
    bf16 = recipe.bf16 is not False
    if p.dry_run:
        import datetime as _dt
        import secrets

        run_dir = jobs.runs_root() / f"{kind}-plan-{_dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
        plan = dist.build_plan(run_dir, num_processes=p.num_processes, num_machines=p.num_machines,
                               distributed=p.distributed, method_name=hint, bf16=bf16,
                               main_process_ip=p.main_process_ip)
        jobs.write_json_atomic(run_dir / "plan.json", {"kind": kind, "params": p.model_dump(mode="json"),
                                                       "launch": plan.to_dict(), "method_hint": hint})
        return TrainHandle(job_id=None, run_dir=str(run_dir), kind=kind, state="planned", method_hint=hint,
                           launch=LaunchPlanOut(**plan.to_dict()))
    # Real scale-out on this machine: the job runs `accelerate launch`, which runs the same worker per rank.
    import datetime as _dt
    import secrets

    run_dir = jobs.runs_root() / f"{kind}-{_dt.datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    plan = dist.build_plan(run_dir, num_processes=p.num_processes, num_machines=1, distributed=p.distributed,
                           method_name=hint, bf16=bf16)
    handle = jobs.start_job(kind, LAUNCHED, p, run_dir=run_dir, label=p.label)
    return TrainHandle(**to_handle(handle).model_dump(), method_hint=hint, launch=LaunchPlanOut(**plan.to_dict()))


@tool(starts_job=True)
def train_qlora(params: TrainQloraParams, *, progress=None) -> TrainHandle:
    """Fine-tune a base model on chat JSONL with a LoRA adapter (4-bit QLoRA on CUDA, fp32 LoRA on CPU); returns a job.

    The recipe is builtin:recipes/default.yaml (rank 16, alpha 32, lr 2e-4 cosine, packing, checkpoints every
    save_steps) with any `overrides`; loss falls on assistant tokens only. The run folder receives run.json
    (method, chat template, dataset version, metrics), metrics.jsonl, checkpoints/ and adapter/. Follow with
    job_status; continue a cancelled or crashed run with train_resume.
    """
    return start_training("train_qlora", params)


class TrainResumeParams(Params):
    job_id: str = Field(description="The training job to continue (cancelled or failed); it restarts from its "
                                    "last checkpoint in the same run folder.")


@tool(starts_job=True)
def train_resume(params: TrainResumeParams, *, progress=None) -> JobHandle:
    """Continue a cancelled or failed training job from its newest checkpoint, in the same run folder.

    The planned step count stays the same; a run with no checkpoint yet starts again from step 0.
    """
    run_dir = jobs.find_run_dir(params.job_id)
    job = jobs.read_status(params.job_id)
    spec = (run_dir / "job.json").read_text()
    import json

    meta = json.loads(spec)
    if meta["kind"] not in ENTRIES:
        raise JobError(f"Job {params.job_id} is a {meta['kind']} job, not a training job.",
                       fix="Pass the id of a train_qlora or train_dpo job.")
    if job["state"] == "succeeded":
        raise JobError(f"Job {params.job_id} already finished.", fix="Start a new train_qlora run to train further.")
    handle = jobs.start_job(meta["kind"], meta["entry"], meta["params"], run_dir=run_dir, resume=True,
                            label=meta.get("label"))
    return to_handle(handle)
