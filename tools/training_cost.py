"""estimate_training_cost: GPU-hours and dollars for a LoRA/QLoRA run, from FLOPs and a stated utilisation.

Pure arithmetic over the caller's figures and the GPU table in ``references/pricing/gpus.yaml`` (through
``specialize.assess.pricing``); every default it falls back on is listed in ``assumptions`` and every table figure in
``sources``. ``estimate_break_even`` (``tools/economics.py``) uses the same arithmetic for its upfront cost.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from specialize.assess import pricing
from specialize.assess.render import render_training_cost
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result

LORA_FLOPS_PER_PARAM_TOKEN = 4  # forward 2N + backward through frozen weights 2N (no weight gradients)
DEFAULT_UTILISATION = {"lora": 0.30, "qlora": 0.20}
BYTES_PER_PARAM = {"lora": 2.0, "qlora": 0.5}  # bf16 weights; 4-bit NF4 weights
METHOD_LABEL = {"lora": "LoRA", "qlora": "QLoRA"}


class SourceRef(Result):
    what: str = Field(description="Which figure this is (e.g. 'claude-opus-4.6 output price').")
    value: float = Field(description="The figure used.")
    unit: str = Field(description="Its unit (USD per million tokens, USD per GPU-hour, tokens/s, TFLOPS).")
    source: str = Field(description="Where the figure comes from.")
    as_of: str = Field(description="Date the figure was valid (YYYY-MM or YYYY-MM-DD).")


class TrainingCostParams(Params):
    model_params_b: float = Field(gt=0, le=2000, description="Base model size in billions of parameters (e.g. 8).")
    training_tokens: float | None = Field(None, gt=0, description="Tokens in one pass over the training set. "
                                          "Give this, or num_examples (times tokens_per_example).")
    num_examples: int | None = Field(None, gt=0, description="Training examples (rows) in the training set.")
    tokens_per_example: float = Field(1000, gt=0, description="Average tokens per example, prompt and answer "
                                      "together after the chat template (used with num_examples).")
    epochs: float = Field(3, gt=0, le=100, description="Passes over the training set.")
    gpu: str = Field("A100-80GB", description="GPU type from references/pricing/gpus.yaml (e.g. A100-80GB, "
                     "H100-80GB; an unambiguous prefix such as 'h100' works).")
    num_gpus: int = Field(1, ge=1, le=1024, description="GPUs used together (data parallel).")
    gpu_provider: str | None = Field(None, description="Provider whose hourly rate to use (e.g. modal, tensorpool); "
                                     "default: the first listed for that GPU.")
    gpu_hourly_usd: float | None = Field(None, gt=0, description="Explicit price per GPU-hour in US dollars "
                                         "(overrides the table).")
    method: Literal["lora", "qlora"] = Field("lora", description="lora (bf16 base weights) or qlora (4-bit base).")
    utilisation: float | None = Field(None, gt=0, le=1, description="Fraction of the GPU's peak BF16 throughput "
                                      "actually reached (model FLOPs utilisation). Default 0.30 for LoRA, 0.20 for "
                                      "QLoRA (dequantising 4-bit weights costs time).")


class TrainingCostResult(Result):
    model_params_b: float = Field(description="Model size used, billions of parameters.")
    method: str = Field(description="lora or qlora.")
    tokens_processed: float = Field(description="Tokens seen in all epochs together.")
    flops_per_token: float = Field(description="Training FLOPs per token (4 x parameters for LoRA).")
    total_flops: float = Field(description="Training FLOPs in all.")
    gpu: str = Field(description="GPU type.")
    num_gpus: int = Field(description="GPUs used together.")
    peak_tflops: float = Field(description="Peak dense BF16 TFLOPS of one GPU.")
    utilisation: float = Field(description="Fraction of peak assumed reached.")
    wall_clock_hours: float = Field(description="Hours from start to end.")
    gpu_hours: float = Field(description="GPU-hours billed (wall clock x GPUs).")
    usd_per_gpu_hour: float = Field(description="Price per GPU-hour used.")
    cost_usd: float = Field(description="Estimated training cost in US dollars.")
    weights_memory_gb: float = Field(description="Memory the frozen base weights alone take (bf16 or 4-bit).")
    fits_in_memory: bool = Field(description="Whether the base weights fit in the GPUs' memory with 20% left for "
                                 "activations, adapter and optimiser state (a rough check).")
    assumptions: list[str] = Field(description="Every default and rule the estimate used.")
    sources: list[SourceRef] = Field(description="Table figures used, with source and as-of date.")


def training_cost(params: TrainingCostParams) -> TrainingCostResult:
    """The arithmetic behind estimate_training_cost (also used by estimate_break_even)."""
    assumptions: list[str] = []
    if params.training_tokens is not None:
        tokens_per_epoch = params.training_tokens
        if params.num_examples is not None:
            assumptions.append("training_tokens was given, so num_examples and tokens_per_example were not used.")
    elif params.num_examples is not None:
        tokens_per_epoch = params.num_examples * params.tokens_per_example
        if "tokens_per_example" not in params.model_fields_set:
            assumptions.append(f"Assumed {params.tokens_per_example:g} tokens per example (chat template, prompt "
                               "and answer); pass tokens_per_example for your data.")
    else:
        raise InvalidInput("Arguments 'training_tokens' and 'num_examples' are both missing: the training set "
                           "size is unknown.",
                           fix="Pass training_tokens (tokens per epoch), or num_examples and tokens_per_example.")
    card, rate = pricing.gpu_rate(params.gpu, params.gpu_provider, arg="gpu")
    sources = [SourceRef(what=f"{card.name} peak BF16 dense", value=card.peak_bf16_tflops, unit="TFLOPS",
                         source=card.peak_source, as_of=card.peak_as_of)]
    if params.gpu_hourly_usd is not None:
        usd_per_hour = params.gpu_hourly_usd
        assumptions.append(f"GPU price given: ${usd_per_hour:g} per GPU-hour.")
    else:
        usd_per_hour = rate.usd_per_hour
        sources.append(SourceRef(what=f"{card.name} hourly rate ({rate.provider})", value=rate.usd_per_hour,
                                 unit="USD per GPU-hour", source=rate.source, as_of=rate.as_of))
    utilisation = params.utilisation if params.utilisation is not None else DEFAULT_UTILISATION[params.method]
    if params.utilisation is None:
        assumptions.append(f"Assumed {utilisation:.0%} of peak BF16 throughput is reached ({params.method} default); "
                           "measure a few steps and pass utilisation to refine.")
    assumptions.append(f"{METHOD_LABEL[params.method]} costs about {LORA_FLOPS_PER_PARAM_TOKEN} x parameters FLOPs per "
                       "token (forward 2N, backward through the frozen weights 2N; adapter and attention FLOPs "
                       "are small beside them).")
    n = params.model_params_b * 1e9
    tokens = tokens_per_epoch * params.epochs
    flops_per_token = LORA_FLOPS_PER_PARAM_TOKEN * n
    total = flops_per_token * tokens
    seconds = total / (card.peak_bf16_tflops * 1e12 * utilisation * params.num_gpus)
    wall = seconds / 3600
    weights_gb = params.model_params_b * BYTES_PER_PARAM[params.method]
    fits = weights_gb <= 0.8 * card.memory_gb * params.num_gpus
    if not fits:
        assumptions.append(f"Warning: the base weights alone take about {weights_gb:g} GB, more than 80% of "
                           f"{params.num_gpus} x {card.memory_gb:g} GB; use QLoRA, more GPUs or a larger GPU.")
    if params.num_gpus > 1:
        assumptions.append("Assumed data-parallel scaling with no loss across GPUs.")
    return TrainingCostResult(
        model_params_b=params.model_params_b, method=params.method, tokens_processed=tokens,
        flops_per_token=flops_per_token, total_flops=total, gpu=card.name, num_gpus=params.num_gpus,
        peak_tflops=card.peak_bf16_tflops, utilisation=utilisation, wall_clock_hours=wall,
        gpu_hours=wall * params.num_gpus, usd_per_gpu_hour=usd_per_hour,
        cost_usd=wall * params.num_gpus * usd_per_hour, weights_memory_gb=weights_gb, fits_in_memory=fits,
        assumptions=assumptions, sources=sources)


@tool(read_only=True, idempotent=True, render=render_training_cost)
def estimate_training_cost(params: TrainingCostParams, *, progress=None) -> TrainingCostResult:
    """GPU-hours and dollars for a LoRA or QLoRA fine-tuning run, from model size, tokens, epochs and GPU.

    FLOPs = 4 x parameters x tokens x epochs, divided by the GPU's peak BF16 throughput times a stated
    utilisation; the hourly rate comes from references/pricing/gpus.yaml unless given. Every assumption is
    listed in the result.
    """
    return training_cost(params)

