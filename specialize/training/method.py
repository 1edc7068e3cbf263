"""Which training method this machine runs, decided once, recorded in run.json and reported — never a quiet
downgrade.

On CUDA: 4-bit QLoRA (bitsandbytes NF4, paged 8-bit AdamW, bf16 where the GPU supports it), through Unsloth
when it is installed. On CPU: LoRA with fp32 weights and no gradient checkpointing (TRL's GPU-minded defaults
turned off); where the CPU does bfloat16 matrix products in hardware (AMX or AVX512-BF16), the forward and
backward run under bf16 autocast: 1.3x faster per step than fp32 on SmolLM2-135M in bench/bench_train_step.py
(2026-12-01), with the demo's golden accuracy unchanged (24-25/40 in bench/bench_recipe.py either way). Asking for QLoRA where it cannot run is an error, not a fallback.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass

from specialize.runtime.errors import DependencyMissing, InvalidInput
from specialize.training.recipe import Recipe


@dataclass
class Method:
    name: str  # lora-fp32-cpu | lora-bf16-cpu | qlora-4bit | unsloth-qlora | lora-cuda
    device: str
    dtype: str
    reason: str
    load_in_4bit: bool = False
    unsloth: bool = False
    bf16: bool = False
    gradient_checkpointing: bool = False
    optim: str = "adamw_torch"

    def public(self) -> dict[str, str]:
        d = asdict(self)
        return {k: d[k] for k in ("name", "device", "dtype", "reason")} | {
            "optim": self.optim, "bf16": self.bf16, "gradient_checkpointing": self.gradient_checkpointing}


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def cpu_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX or AVX512-BF16). Elsewhere torch
    emulates bf16 on a CPU, which is slower than fp32, so the CPU path stays in fp32 there."""
    try:
        import torch

        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except Exception:  # an older torch without these probes: assume no hardware bf16
        return False


def resolve_method(recipe: Recipe, *, cuda: bool | None = None, bf16_ok: bool | None = None,
                   unsloth: bool | None = None, bnb: bool | None = None) -> Method:
    """Pick the method for ``recipe`` on this machine (the keyword overrides exist for tests and planning).

    ``bf16_ok`` is the hardware's bfloat16 support: the GPU's on CUDA, the CPU's (AMX / AVX512-BF16) without."""
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    if bf16_ok is None:
        if cuda:
            import torch

            bf16_ok = bool(torch.cuda.is_bf16_supported())
        else:
            bf16_ok = cpu_native_bf16()
    bf16_ok = bool(bf16_ok)
    unsloth = _has("unsloth") if unsloth is None else unsloth
    bnb = _has("bitsandbytes") if bnb is None else bnb

    if not cuda:
        if recipe.method == "qlora":
            raise InvalidInput("method 'qlora' needs a CUDA GPU (bitsandbytes 4-bit kernels); this machine has none.",
                               fix="Set method: auto or lora to train LoRA in fp32 on CPU, or run on a GPU machine.")
        if recipe.bf16 is True and not bf16_ok:
            raise InvalidInput("bf16: true was asked for on a CPU without bfloat16 hardware (AMX or AVX512-BF16), "
                               "where torch would emulate it more slowly than fp32.",
                               fix="Leave bf16: auto (or false) on this machine.")
        optim = "adamw_torch" if recipe.optim in ("auto", "paged_adamw_8bit", "adamw_8bit", "paged_adamw_32bit") \
            else recipe.optim
        bf16 = bf16_ok and recipe.bf16 in ("auto", True)
        if bf16:
            why = ("no CUDA device: 4-bit QLoRA needs bitsandbytes on a GPU, so LoRA trains on CPU, with fp32 "
                   "weights and bf16 autocast because this CPU has bfloat16 hardware (AMX / AVX512-BF16)")
        else:
            why = "no CUDA device: 4-bit QLoRA needs bitsandbytes on a GPU, so LoRA trains in fp32 on CPU"
            if bf16_ok and recipe.bf16 is False:
                why += " (bf16: false in the recipe)"
        if recipe.optim not in ("auto", optim):
            why += f"; optimizer {recipe.optim} needs CUDA, adamw_torch used"
        return Method(name="lora-bf16-cpu" if bf16 else "lora-fp32-cpu", device="cpu", dtype="float32",
                      reason=why, optim=optim, bf16=bf16,
                      gradient_checkpointing=recipe.gradient_checkpointing is True)

    bf16 = bf16_ok if recipe.bf16 == "auto" else bool(recipe.bf16)
    if bf16 and not bf16_ok:
        raise InvalidInput("bf16: true, but this GPU does not support bfloat16.", fix="Set bf16: auto or false.")
    dtype = "bfloat16" if bf16 else "float16"
    gc = True if recipe.gradient_checkpointing == "auto" else bool(recipe.gradient_checkpointing)
    if recipe.method == "lora":
        return Method(name="lora-cuda", device="cuda", dtype=dtype, bf16=bf16, gradient_checkpointing=gc,
                      reason="method: lora asked for (16-bit base weights, no 4-bit quantization)",
                      optim="adamw_torch" if recipe.optim == "auto" else recipe.optim)
    optim = "paged_adamw_8bit" if recipe.optim == "auto" else recipe.optim
    if unsloth and recipe.use_unsloth in ("auto", True):
        return Method(name="unsloth-qlora", device="cuda", dtype=dtype, load_in_4bit=True, unsloth=True, bf16=bf16,
                      gradient_checkpointing=gc, optim=optim,
                      reason="CUDA with Unsloth installed: Unsloth's fast 4-bit QLoRA path")
    if recipe.use_unsloth is True:
        raise DependencyMissing("use_unsloth: true, but Unsloth is not installed.",
                                fix="pip install 'specialize[gpu]', or set use_unsloth: auto.")
    if not bnb:
        raise DependencyMissing("4-bit QLoRA on CUDA needs bitsandbytes, which is not installed.",
                                fix="pip install bitsandbytes (in the 'train' extra), or set method: lora.")
    return Method(name="qlora-4bit", device="cuda", dtype=dtype, load_in_4bit=True, bf16=bf16,
                  gradient_checkpointing=gc, optim=optim,
                  reason="CUDA: 4-bit NF4 QLoRA with bitsandbytes" + (", bf16 compute" if bf16 else ", fp16 compute"))
