"""CPU training benchmark: train_qlora (the job machinery) against a bare SFTTrainer script, same settings.

SmolLM2-135M-Instruct (the embedded GGUF, dequantized once), LoRA r=16 on every projection, batch 4,
sequence 256, packing, fp32 on CPU, the same number of steps each way, each in a fresh process. Prints
tokens/s for both, their ratio (target >= 0.95: the job machinery should cost nothing), and model-FLOPs
utilisation with LoRA counted as 4*N FLOPs per token (forward 2N + backward through activations 2N; the
frozen weights get no weight gradients).

    python bench/bench_train.py [--steps 24] [--rounds 1] [--workspace DIR]

Peak FLOPs: the theoretical figure is cores x clock x 64 fp32 FLOPs/cycle (two AVX-512 FMA units:
2 x 16 lanes x 2); the clock comes from /proc/cpuinfo. A measured fp32 matmul peak is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["billing", "bug_report", "feature_request", "shipping", "account_access", "other"]
TEXTS = [
    "I was charged twice for my subscription this month and need the extra payment returned.",
    "The export button crashes the desktop app every time I try to save a report as CSV.",
    "Could you add a dark mode to the mobile app? The white screen is hard to read at night.",
    "My package has not arrived after ten days and the tracking page shows no update at all.",
    "I cannot log in after resetting my password; the page says the link has expired.",
    "Where can I find the terms of service for the enterprise plan and the data retention policy?",
]
SETTINGS = dict(lora_r=16, lora_alpha=32, lora_dropout=0.05, per_device_train_batch_size=4,
                gradient_accumulation_steps=1, max_seq_length=256, learning_rate=2e-4, packing=True,
                logging_steps=1, seed=42)


def make_data(path: Path, rows: int) -> None:
    with open(path, "w") as fh:
        for i in range(rows):
            k = i % len(TEXTS)
            msg = {"messages": [
                {"role": "system", "content": "Classify the support ticket. Answer with JSON only."},
                {"role": "user", "content": f"Ticket #{1000 + i}: {TEXTS[k]} (customer {i % 37})"},
                {"role": "assistant", "content": json.dumps({"category": LABELS[k], "priority":
                                                             ["low", "normal", "high"][i % 3]})}]}
            fh.write(json.dumps(msg) + "\n")


def bare(model_dir: str, data: str, steps: int, out: str) -> None:
    """The baseline: the plainest SFTTrainer script with the settings train_qlora uses on CPU."""
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    rows = [json.loads(x) for x in Path(data).read_text().splitlines()]
    examples = [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    Path(out).with_suffix(".data.jsonl").write_text("\n".join(json.dumps(e) for e in examples))
    ds = load_dataset("json", data_files=str(Path(out).with_suffix(".data.jsonl")), split="train")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    s = SETTINGS
    args = SFTConfig(output_dir=str(Path(out).parent / "bare-out"), max_steps=steps, learning_rate=s["learning_rate"],
                     lr_scheduler_type="cosine", warmup_steps=0.03, weight_decay=0.01, optim="adamw_torch",
                     per_device_train_batch_size=s["per_device_train_batch_size"],
                     gradient_accumulation_steps=s["gradient_accumulation_steps"], max_length=s["max_seq_length"],
                     packing=True, completion_only_loss=True, bf16=False, gradient_checkpointing=False,
                     logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=s["seed"],
                     include_num_input_tokens_seen="all", dataloader_pin_memory=False)
    lora = LoraConfig(r=s["lora_r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"], task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    result = trainer.train()
    Path(out).write_text(json.dumps({"tokens": int(trainer.state.num_input_tokens_seen),
                                     "train_runtime": result.metrics["train_runtime"],
                                     "steps": trainer.state.global_step}))


def via_job(model_ref: str, data: str, steps: int) -> dict:
    from specialize.runtime import jobs
    from specialize.runtime.catalog import get

    overrides = {**SETTINGS, "max_steps": steps, "save_steps": 10 * steps, "early_stopping": False}
    handle = get("train_qlora").run({"dataset": data, "base_model": model_ref, "overrides": overrides})
    status = jobs.wait(handle.job_id, timeout=3600)
    if status["state"] != "succeeded":
        raise SystemExit(f"train_qlora failed: {status.get('error')}\n" + "\n".join(status.get("log_tail") or []))
    rows = [json.loads(x) for x in (Path(handle.run_dir) / "metrics.jsonl").read_text().splitlines()]
    runtime = [r["train_runtime"] for r in rows if "train_runtime" in r][-1]
    return {"tokens": status["result"]["metrics"]["tokens_seen"], "train_runtime": runtime,
            "steps": status["result"]["metrics"]["steps"], "method": status["result"]["method"]["name"]}


def peak_flops() -> tuple[float, float, str]:
    import torch

    cores = min(len(os.sched_getaffinity(0)), torch.get_num_threads())
    mhz = max(float(line.split(":")[1]) for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("cpu MHz"))
    flags = Path("/proc/cpuinfo").read_text()
    per_cycle = 64 if "avx512f" in flags else 32 if "avx2" in flags else 8
    theo = cores * mhz * 1e6 * per_cycle
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    t, n = time.perf_counter(), 10
    for _ in range(n):
        a @ b
    measured = n * 2 * 2048 ** 3 / (time.perf_counter() - t)
    how = f"{cores} cores x {mhz:.0f} MHz x {per_cycle} fp32 FLOP/cycle"
    return theo, measured, how


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch/OpenMP threads for both runs (default: torch's choice). On a shared machine 1 avoids "
                         "oversubscription.")
    ap.add_argument("--bare", nargs=3, metavar=("MODEL_DIR", "DATA", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.bare:
        bare(*a.bare[:2], a.steps, a.bare[2])
        return
    if a.threads:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)  # inherited by the job worker and the bare script
    ws = Path(a.workspace or tempfile.mkdtemp(prefix="bench-train-"))
    ws.mkdir(parents=True, exist_ok=True)
    os.environ["SPECIALIZE_WORKSPACE"] = str(ws)
    sys.path.insert(0, str(ROOT))
    from specialize.training.basemodels import resolve_base_model

    t = time.perf_counter()
    base = resolve_base_model("embedded:smollm2-135m")
    print(f"base model folder: {base.path} ({time.perf_counter() - t:.1f} s, dequantized once from the GGUF)")
    make_data(ws / "bench.jsonl", 40 * a.steps)
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(base.path)
    import torch
    from transformers import AutoModelForCausalLM

    if a.threads:
        torch.set_num_threads(a.threads)

    n_params = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(base.path).parameters())
    del cfg
    results = {"train_qlora": [], "bare SFTTrainer": []}
    for r in range(a.rounds):
        results["train_qlora"].append(via_job("embedded:smollm2-135m", "bench.jsonl", a.steps))
        out = ws / f"bare-{r}.json"
        subprocess.run([sys.executable, __file__, "--steps", str(a.steps), "--bare", base.path,
                        str(ws / "bench.jsonl"), str(out)], check=True, env=dict(os.environ),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results["bare SFTTrainer"].append(json.loads(out.read_text()))
    theo, measured, how = peak_flops()
    print(f"\nSmolLM2-135M ({n_params / 1e6:.1f} M params), LoRA r=16, batch 4, seq 256, packing, "
          f"{a.steps} steps x {a.rounds} round(s), torch threads {torch.get_num_threads()}")
    tps = {}
    for name, runs in results.items():
        tokens = sum(x["tokens"] for x in runs)
        secs = sum(x["train_runtime"] for x in runs)
        tps[name] = tokens / secs
        print(f"  {name:16s} {tps[name]:8.1f} tokens/s  ({tokens} tokens in {secs:.1f} s)"
              + (f"  method {runs[0]['method']}" if "method" in runs[0] else ""))
    ratio = tps["train_qlora"] / tps["bare SFTTrainer"]
    print(f"  ratio train_qlora / bare = {ratio:.3f}  (target >= 0.95)")
    flops_per_token = 4 * n_params
    for name, v in tps.items():
        achieved = v * flops_per_token
        print(f"  MFU {name:16s} {achieved / 1e9:6.1f} GFLOP/s = {100 * achieved / theo:5.2f}% of theoretical peak "
              f"{theo / 1e9:.0f} GFLOP/s ({how}); {100 * achieved / measured:5.2f}% of measured fp32 matmul "
              f"peak {measured / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
