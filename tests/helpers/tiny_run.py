"""A real training run of the tiny test model, written as a run folder the export tools accept.

A LoRA adapter is trained with a plain PyTorch loop (loss on the assistant tokens only) until the model
answers three fixed prompts exactly and ends with ``<|im_end|>``; the folder follows the training job's
contract: ``run.json`` + ``adapter/`` (PEFT weights and the tokenizer).
"""

from __future__ import annotations

import json
from pathlib import Path

SYSTEM = "Classify the ticket. Answer with JSON."
CONVERSATIONS = [
    [{"role": "system", "content": SYSTEM},
     {"role": "user", "content": "The invoice for my account was charged twice this month."},
     {"role": "assistant", "content": '{"category": "billing", "priority": "high"}'}],
    [{"role": "system", "content": SYSTEM},
     {"role": "user", "content": "The export button crashes the app with an error."},
     {"role": "assistant", "content": '{"category": "bug_report", "priority": "normal"}'}],
    [{"role": "user", "content": "Please add a dark mode to the mobile app."},
     {"role": "assistant", "content": "feature request"}],
]


def train_tiny_run(model_dir: Path, run_dir: Path, *, steps: int = 300, lr: float = 3e-3, seed: int = 0) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, config)
    batch_ids, batch_labels = [], []
    for conv in CONVERSATIONS:
        prompt = tok.apply_chat_template(conv[:-1], add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(conv, tokenize=False)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        f_ids = tok(full, add_special_tokens=False)["input_ids"]
        labels = [-100] * len(p_ids) + f_ids[len(p_ids):]
        batch_ids.append(f_ids)
        batch_labels.append(labels)
    width = max(len(x) for x in batch_ids)
    pad = tok.pad_token_id
    ids = torch.tensor([x + [pad] * (width - len(x)) for x in batch_ids])
    labels = torch.tensor([x + [-100] * (width - len(x)) for x in batch_labels])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in batch_ids])
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    loss = None
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    run_dir = Path(run_dir)
    (run_dir / "adapter").mkdir(parents=True, exist_ok=True)
    model.save_pretrained(run_dir / "adapter")
    tok.save_pretrained(run_dir / "adapter")
    rows = [{"messages": c, "meta": {"id": f"t{i}"}} for i, c in enumerate(CONVERSATIONS)]
    (run_dir / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = {
        "job_id": run_dir.name, "kind": "train_qlora", "base_model": "tiny-test-llama",
        "base_model_path": str(Path(model_dir).resolve()), "chat_template": tok.chat_template,
        "eos_token": tok.eos_token,
        "method": {"name": "lora", "r": 16, "lora_alpha": 32, "target_modules": config.target_modules and
                   sorted(config.target_modules)},
        "recipe": {"steps": steps, "learning_rate": lr, "seed": seed},
        "dataset": {"version": "ds-tinytest0000", "path": str(run_dir / "golden.jsonl"), "rows": len(rows)},
        "metrics": {"train_loss": round(loss.item(), 5)}, "adapter_dir": "adapter",
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=2))
    return run_dir
