"""train_dpo: preference tuning (DPO) with a LoRA adapter, on the same job machinery and run registry."""

from __future__ import annotations

from specialize.tools.train import TrainCommon, TrainHandle, start_training

from specialize.runtime.catalog import tool


class TrainDpoParams(TrainCommon):
    pass


@tool(starts_job=True)
def train_dpo(params: TrainDpoParams, *, progress=None) -> TrainHandle:
    """Preference-tune a model on {prompt, chosen, rejected} pairs with TRL's DPOTrainer and a LoRA adapter; returns a job.

    Uses builtin:recipes/default.yaml with builtin:recipes/dpo.yaml on top (lr 5e-5, beta 0.1, no packing) and
    any `overrides`. Prompts may be strings or message lists; the model's chat template renders them. Resume
    with train_resume, follow with job_status.
    """
    return start_training("train_dpo", params)
