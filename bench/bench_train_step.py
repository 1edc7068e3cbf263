"""What one CPU training step of the demo's recipe costs, per way of computing it, measured in one run.

The embedded SmolLM2-135M-Instruct with LoRA r32 on all seven projections (references/recipes/small-cpu.yaml),
one batch of the support-triage training rows rendered by the chat template, answer-only loss. Each mode runs
one warm-up step and then ``--steps`` timed optimizer steps (forward, backward, AdamW):

  fused-fp32      TRL's fused LM head (what SFTTrainer installs), fp32      -- the demo before 2026-12-01
  fused-bf16      TRL's fused LM head under bf16 autocast
  selective-fp32  the head applied only to answer positions (specialize/training/cpu_head.py), fp32
  selective-bf16  the same under bf16 autocast                              -- the demo now, with bf16 hardware

It also prints the padding a batch carries with random batches and with length buckets
(specialize/training/batching.py). Ratios are against fused-fp32 in the same run; the machine's load is printed
with them, since absolute seconds move with it.

usage: python bench/bench_train_step.py [--steps 3] [--batch 8] [--modes fused-fp32,selective-bf16]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

MODES = ("fused-fp32", "fused-bf16", "selective-fp32", "selective-bf16")


def _rows(tok, n: int) -> list[dict]:
    """n training rows of the bundled task, tokenised with the answer-only label mask."""
    import json

    from specialize.runtime.workspace import resolve_path

    path = resolve_path("builtin:tasks/support-triage/seeds.jsonl", arg="rows", must_exist=True)
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    out = []
    for row in rows:
        msgs = row["messages"]
        prompt = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        full = prompt + msgs[-1]["content"] + tok.eos_token
        ids = tok(full, add_special_tokens=False)["input_ids"]
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        out.append({"ids": ids, "n_prompt": n_prompt})
    return out


def _collate(rows: list[dict], pad_id: int):
    import torch

    width = max(len(r["ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for i, r in enumerate(rows):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        mask[i, :n] = 1
        labels[i, r["n_prompt"]:n] = torch.tensor(r["ids"][r["n_prompt"]:])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    return 1 - sum(lengths) / padded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()

    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.trainer.utils import add_fused_lm_head

    from specialize.runtime.embedded import EMBEDDED_ALIAS
    from specialize.training.basemodels import resolve_base_model
    from specialize.training.batching import LengthBucketSampler
    from specialize.training.common import lora_config
    from specialize.training.cpu_head import selective_head_trainer
    from specialize.training.method import cpu_native_bf16
    from specialize.training.recipe import load_recipe

    base = resolve_base_model(EMBEDDED_ALIAS, log=lambda *_: None)
    tok = AutoTokenizer.from_pretrained(base.path)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    rows = _rows(tok, 10_000)
    lengths = [len(r["ids"]) for r in rows]
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    random_batches = [order[i:i + args.batch] for i in range(0, len(order), args.batch)]
    bucket_batches = LengthBucketSampler(lengths, args.batch, seed=0).batches()
    print(f"{len(rows)} rows, {sum(lengths) / len(rows):.0f} tokens on average; padding share of a batch: "
          f"random {padding_share(lengths, random_batches):.1%}, length buckets "
          f"{padding_share(lengths, bucket_batches):.1%}")

    # One batch of median-length-ish rows, the same for every mode.
    batch = _collate([rows[i] for i in random_batches[0]], pad)
    recipe = load_recipe("builtin:recipes/small-cpu.yaml")
    load1 = os.getloadavg()[0]
    print(f"batch {tuple(batch['input_ids'].shape)}, {int((batch['labels'] != -100).sum())} answer tokens; "
          f"torch threads {torch.get_num_threads()}; CPU bf16 hardware: {cpu_native_bf16()}; load {load1:.1f}")

    class _Metrics:
        _metrics = {"train": {"mean_token_accuracy": [], "num_tokens": []}}
        _total_train_tokens = 0

    selective = selective_head_trainer(_Metrics)()
    results: dict[str, float] = {}
    for mode in [m for m in args.modes.split(",") if m]:
        head, dtype = mode.split("-")
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
        if head == "fused":
            add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
        model = get_peft_model(model, lora_config(recipe, model.config))
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=recipe.learning_rate)

        def step() -> float:
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                if head == "fused":
                    loss = model(**batch, fused_lm_head=True).loss
                else:
                    loss = selective.compute_loss(model, dict(batch))
            loss.backward()
            opt.step()
            opt.zero_grad()
            return time.perf_counter() - t0

        step()
        times = [step() for _ in range(args.steps)]
        results[mode] = statistics.median(times)
        ref = results.get("fused-fp32")
        ratio = f", {ref / results[mode]:.2f}x fused-fp32" if ref else ""
        print(f"{mode:15s} median {results[mode]:.2f} s/step over {args.steps} steps "
              f"({', '.join(f'{t:.2f}' for t in times)}){ratio}", flush=True)
    print(f"load before {load1:.1f}, after {os.getloadavg()[0]:.1f} (1-minute average, 2 cores)")


if __name__ == "__main__":
    main()
