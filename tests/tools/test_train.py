"""train_qlora / train_dpo / train_resume on a tiny Llama built in the tests: real training on CPU."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from specialize.runtime import jobs, registry
from tests.helpers.cpu import expected_cpu_method
from specialize.runtime.catalog import get
from specialize.runtime.errors import DependencyMissing, InvalidInput
from specialize.training.recipe import Recipe, load_recipe

CATS = ["billing", "bug_report", "feature_request", "shipping"]


def chat_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        cat = CATS[i % len(CATS)]
        rows.append({"messages": [
            {"role": "system", "content": "Classify the support ticket as JSON."},
            {"role": "user", "content": f"Ticket {i}: the invoice for my account was charged twice this month."},
            {"role": "assistant", "content": json.dumps({"category": cat, "priority": "high"})},
        ], "meta": {"i": i}})
    return rows


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.fixture()
def train_ws(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(Path(tiny_model_dir).parent))
    write_jsonl(workspace / "train.jsonl", chat_rows(30) + ['{"messages": [{"role": "user", "content": "hi"}]}',
                                                           "not json"])
    write_jsonl(workspace / "dev.jsonl", chat_rows(8))
    return workspace


def tiny_params(tiny_model_dir, **overrides) -> dict:
    recipe = {"max_steps": 30, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
              "save_steps": 10, "eval_steps": 10, "max_seq_length": 128, "learning_rate": 3e-3, "logging_steps": 1}
    recipe.update(overrides)
    return {"dataset": "train.jsonl", "base_model": str(tiny_model_dir), "overrides": recipe}


# ---------------------------------------------------------------------------------------------- fast checks


def test_default_recipe_is_the_seed_recipe():
    r = load_recipe()
    assert (r.lora_r, r.lora_alpha, r.lora_dropout) == (16, 32, 0.05)
    assert r.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert (r.learning_rate, r.lr_scheduler_type, r.warmup_ratio, r.weight_decay) == (2e-4, "cosine", 0.03, 0.01)
    assert r.packing and r.early_stopping and r.save_steps > 0 and r.eval_steps > 0
    dpo = load_recipe(base=("builtin:recipes/default.yaml", "builtin:recipes/dpo.yaml"))
    assert dpo.learning_rate == 5e-5 and dpo.packing is False


@pytest.mark.parametrize("overrides, key", [
    ({"lora_rank": 8}, "lora_rank"),
    ({"lora_r": 0}, "lora_r"),
    ({"learning_rate": -1e-4}, "learning_rate"),
    ({"lr_scheduler_type": "zigzag"}, "lr_scheduler_type"),
])
def test_bad_config_is_refused_before_any_job(train_ws, tiny_model_dir, overrides, key):
    params = tiny_params(tiny_model_dir)
    params["overrides"] = overrides
    started = time.monotonic()
    with pytest.raises(InvalidInput) as err:
        get("train_qlora").run(params)
    assert f"'{key}'" in str(err.value)
    assert time.monotonic() - started < 5
    assert not list((train_ws / "runs").glob("train_qlora-*")) if (train_ws / "runs").exists() else True


def test_bad_recipe_file_and_inconsistent_keys(train_ws, tiny_model_dir):
    (train_ws / "r.yaml").write_text("lora_r: 8\nwarmup: 10\n")
    with pytest.raises(InvalidInput, match="'warmup'"):
        get("train_qlora").run({**tiny_params(tiny_model_dir), "recipe": "r.yaml"})
    with pytest.raises(InvalidInput, match="save_steps"):
        get("train_qlora").run({**tiny_params(tiny_model_dir, save_steps=15, eval_steps=10),
                                "eval_dataset": "dev.jsonl"})
    with pytest.raises(InvalidInput, match="'method'"):
        get("train_qlora").run(tiny_params(tiny_model_dir, method="qlora"))
    assert not (train_ws / "runs").exists() or not any((train_ws / "runs").iterdir())


def test_method_resolution_by_hardware():
    from specialize.training.method import resolve_method

    cpu = resolve_method(Recipe(), cuda=False, bf16_ok=False)
    assert cpu.name == "lora-fp32-cpu" and cpu.dtype == "float32"
    assert cpu.bf16 is False and cpu.gradient_checkpointing is False and cpu.optim == "adamw_torch"
    assert "CUDA" in cpu.reason
    assert resolve_method(Recipe(), cuda=True, bf16_ok=True, unsloth=True, bnb=True).name == "unsloth-qlora"
    q = resolve_method(Recipe(), cuda=True, bf16_ok=True, unsloth=False, bnb=True)
    assert (q.name, q.optim, q.dtype, q.load_in_4bit) == ("qlora-4bit", "paged_adamw_8bit", "bfloat16", True)
    assert resolve_method(Recipe(use_unsloth=False), cuda=True, bf16_ok=False, unsloth=True, bnb=True).dtype == "float16"
    with pytest.raises(DependencyMissing):
        resolve_method(Recipe(), cuda=True, bf16_ok=True, unsloth=False, bnb=False)
    with pytest.raises(InvalidInput, match="qlora"):
        resolve_method(Recipe(method="qlora"), cuda=False)


def test_rows_are_accepted_or_rejected_with_reasons(tmp_path):
    from specialize.training.data import preference_examples, sft_examples

    multi = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                          {"role": "user", "content": "c"}, {"role": "assistant", "content": "d"}]}
    path = write_jsonl(tmp_path / "d.jsonl", [multi, {"messages": []}, {"messages": [{"role": "user", "content": "x"}]},
                                              "{broken", {"messages": [{"role": "robot", "content": "x"}]}])
    examples, rejected, rows = sft_examples(path)
    assert rows == 5 and len(rejected) == 4 and len(examples) == 2  # one example per assistant turn
    second = next(e for e in examples if e["completion"][0]["content"] == "d")
    assert [m["content"] for m in second["prompt"]] == ["a", "b", "c"]
    assert all(r["reason"] for r in rejected)
    pairs = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "q", "chosen": "a", "rejected": "b"},
                                               {"prompt": "q", "chosen": "a", "rejected": "a"}, {"prompt": "q"}])
    ex, rej, n = preference_examples(pairs)
    assert n == 3 and len(ex) == 1 and len(rej) == 2
    assert ex[0]["prompt"] == [{"role": "user", "content": "q"}]


def test_the_order_of_rows_in_the_file_does_not_change_the_examples(tmp_path):
    """A concurrent teacher writes rows in completion order: the same rows in any order give the same examples
    in the same sequence, so a seeded shuffle trains the same model."""
    import random

    from specialize.training.data import preference_examples, sft_examples

    rows = chat_rows(12)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert shuffled != rows
    first, _, _ = sft_examples(write_jsonl(tmp_path / "a.jsonl", rows))
    second, _, _ = sft_examples(write_jsonl(tmp_path / "b.jsonl", shuffled))
    assert first == second and len(first) == 12
    pairs = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(8)]
    a, _, _ = preference_examples(write_jsonl(tmp_path / "pa.jsonl", pairs))
    b, _, _ = preference_examples(write_jsonl(tmp_path / "pb.jsonl", pairs[::-1]))
    assert a == b and len(a) == 8


def test_loss_falls_on_assistant_tokens_only(tiny_model_dir, tmp_path):
    """TRL's own preprocessing of our prompt-completion rows masks system and user tokens (-100)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from specialize.training.data import sft_examples

    rows = chat_rows(2) + [{"messages": [
        {"role": "user", "content": "first question"}, {"role": "assistant", "content": "FIRST ANSWER"},
        {"role": "user", "content": "second question"}, {"role": "assistant", "content": "SECOND ANSWER"}]}]
    examples, _, _ = sft_examples(write_jsonl(tmp_path / "d.jsonl", rows))
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), processing_class=tok,
        train_dataset=Dataset.from_list(examples),
        args=SFTConfig(output_dir=str(tmp_path / "o"), packing=False, completion_only_loss=True, max_length=128,
                       bf16=False, gradient_checkpointing=False, report_to="none", max_steps=1))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(examples))])
    for i, ex in enumerate(examples):
        labels, ids = batch["labels"][i], batch["input_ids"][i]
        trained = tok.decode(ids[labels != -100])
        ignored = tok.decode(ids[(labels == -100) & (batch["attention_mask"][i] == 1)])
        answer = ex["completion"][0]["content"]
        assert trained.startswith(answer) and "<|im_end|>" in trained  # the model learns to stop
        assert "question" not in trained and "Ticket" not in trained and "Classify" not in trained
        assert "user" in ignored
    # the second turn of the multi-turn row: the first answer is context, not a target
    k = next(i for i, ex in enumerate(examples) if ex["completion"][0]["content"] == "SECOND ANSWER")
    last = tok.decode(batch["input_ids"][k][batch["labels"][k] != -100])
    assert "SECOND ANSWER" in last and "FIRST ANSWER" not in last


def test_scale_out_generates_accelerate_config_and_command(train_ws, tiny_model_dir):
    tool = get("train_qlora")
    out = tool.run({**tiny_params(tiny_model_dir), "num_processes": 4, "distributed": "fsdp", "dry_run": True})
    assert out.job_id is None and out.state == "planned"
    cfg = yaml.safe_load(Path(out.launch.config_path).read_text())
    assert cfg["distributed_type"] == "FSDP" and cfg["num_processes"] == 4 and cfg["num_machines"] == 1
    assert cfg["fsdp_config"]["fsdp_version"] == 2 and cfg["mixed_precision"] == "bf16"
    (cmd,) = out.launch.commands
    assert re.search(r"accelerate( launch|\.commands\.launch) ", cmd) and f"--config_file {out.launch.config_path}" in cmd
    assert cmd.endswith(f"-m specialize.training.launch {out.run_dir}")
    assert (Path(out.run_dir) / "launch.sh").read_text().strip().endswith(cmd)

    z3 = tool.run({**tiny_params(tiny_model_dir), "num_processes": 8, "num_machines": 2,
                   "distributed": "deepspeed_zero3", "main_process_ip": "10.0.0.5", "dry_run": True})
    cfg = z3.launch.config
    assert cfg["distributed_type"] == "DEEPSPEED" and cfg["deepspeed_config"]["zero_stage"] == 3
    assert cfg["num_processes"] == 8 and cfg["num_machines"] == 2 and cfg["main_process_ip"] == "10.0.0.5"
    assert [c.split("--machine_rank ")[1].split()[0] for c in z3.launch.commands] == ["0", "1"]
    z2 = tool.run({**tiny_params(tiny_model_dir), "num_processes": 2, "distributed": "deepspeed_zero2",
                   "dry_run": True})
    assert z2.launch.config["deepspeed_config"]["zero_stage"] == 2

    from specialize.training.distributed import gpu_count

    if gpu_count() < 2:  # this machine cannot run two processes: refused, with the dry-run way out named
        with pytest.raises(InvalidInput, match="dry_run"):
            tool.run({**tiny_params(tiny_model_dir), "num_processes": 2, "distributed": "fsdp"})
    with pytest.raises(InvalidInput, match="evenly"):
        tool.run({**tiny_params(tiny_model_dir), "num_processes": 3, "num_machines": 2, "dry_run": True})


# ---------------------------------------------------------------------------------------------- real training


def _logits(model_dir_or_model, tok, text="Ticket 3: the invoice"):
    import torch

    ids = tok(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model_dir_or_model(input_ids=ids).logits


@pytest.mark.slow
def test_train_qlora_trains_records_and_the_adapter_changes_outputs(train_ws, tiny_model_dir):
    handle = get("train_qlora").run({**tiny_params(tiny_model_dir), "eval_dataset": "dev.jsonl"})
    assert handle.state == "queued" and handle.method_hint == expected_cpu_method()
    status = jobs.wait(handle.job_id, timeout=240)
    assert status["state"] == "succeeded", status.get("log_tail")
    run_dir = Path(handle.run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    assert status["result"] == run
    for key in ("job_id", "kind", "base_model", "base_model_path", "chat_template", "eos_token", "method", "recipe",
                "dataset", "eval_dataset", "metrics", "adapter_dir"):
        assert key in run, key
    assert run["kind"] == "train_qlora" and run["adapter_dir"] == "adapter"
    assert run["method"]["name"] == expected_cpu_method() and run["method"]["device"] == "cpu"
    assert run["method"]["dtype"] == "float32" and run["method"]["reason"]
    assert Path(run["base_model_path"]).resolve() == Path(tiny_model_dir).resolve()
    assert run["chat_template"] == (Path(tiny_model_dir) / "chat_template.jinja").read_text() or "<|im_start|>" in \
        run["chat_template"]
    assert run["eos_token"] == "<|im_end|>"
    assert run["dataset"]["version"] == registry.find_dataset("train.jsonl")["version"]
    assert run["dataset"]["rows"] == 32 and run["dataset"]["rejected_rows"] == 2
    assert len((run_dir / "rejected_rows.jsonl").read_text().splitlines()) == 2
    m = run["metrics"]
    assert m["steps"] == 30 and m["eval_loss"] is not None and m["tokens_per_second"] > 0
    losses = [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    assert len(losses) >= 20
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses
    assert yaml.safe_load((run_dir / "recipe.yaml").read_text())["max_steps"] == 30
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("checkpoint-*"))
    assert status["metrics"].get("learning_rate") is not None and "tokens_per_second" in status["metrics"]
    assert any(r["job_id"] == handle.job_id and r["metrics"]["steps"] == 30 for r in registry.runs())

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(run_dir / "adapter")
    assert tok.chat_template == run["chat_template"]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = _logits(base, tok)
    tuned = PeftModel.from_pretrained(base, run_dir / "adapter")
    after = _logits(tuned, tok)
    assert (after - before).abs().max() > 1e-3


@pytest.mark.slow
def test_sigkill_mid_run_is_failed_and_resume_reaches_the_planned_steps(train_ws, tiny_model_dir):
    handle = get("train_qlora").run(tiny_params(tiny_model_dir, max_steps=24, save_steps=5))
    run_dir = Path(handle.run_dir)
    deadline = time.monotonic() + 180
    while not (run_dir / "checkpoints" / "checkpoint-10").exists():
        assert time.monotonic() < deadline and jobs.read_status(handle.job_id)["state"] in jobs.ACTIVE
        time.sleep(0.05)
    pid = jobs.read_status(handle.job_id)["pid"]
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (status := get("job_status").run({"job_id": handle.job_id})).state in jobs.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status.state == "failed" and "ended without reporting" in status.error
    assert status.step < 24

    resumed = get("train_resume").run({"job_id": handle.job_id})
    assert resumed.job_id == handle.job_id
    final = jobs.wait(handle.job_id, timeout=240)
    assert final["state"] == "succeeded", final.get("log_tail")
    assert final["result"]["metrics"]["steps"] == 24 and final["attempts"] == 2
    assert "resume: continuing from" in (run_dir / "job.log").read_text()
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 24


@pytest.mark.slow
def test_cancel_stops_training(train_ws, tiny_model_dir):
    handle = get("train_qlora").run(tiny_params(tiny_model_dir, max_steps=400, save_steps=1000))
    deadline = time.monotonic() + 120
    while (jobs.read_status(handle.job_id).get("step") or 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status = get("job_cancel").run({"job_id": handle.job_id})
    assert status.state == "cancelled" and status.step < 400
    assert not (Path(handle.run_dir) / "adapter").exists()


@pytest.mark.slow
def test_train_dpo_on_preference_pairs(train_ws, tiny_model_dir):
    pairs = [{"prompt": [{"role": "user", "content": f"Ticket {i}: charged twice"}],
              "chosen": json.dumps({"category": "billing"}), "rejected": "I am not sure, maybe shipping?"}
             for i in range(8)]
    write_jsonl(train_ws / "pairs.jsonl", pairs)
    handle = get("train_dpo").run({"dataset": "pairs.jsonl", "base_model": str(tiny_model_dir),
                                   "overrides": {"max_steps": 6, "per_device_train_batch_size": 4,
                                                 "gradient_accumulation_steps": 1, "max_seq_length": 128,
                                                 "learning_rate": 1e-3}})
    status = jobs.wait(handle.job_id, timeout=240)
    assert status["state"] == "succeeded", status.get("log_tail")
    run = status["result"]
    assert run["kind"] == "train_dpo" and run["metrics"]["steps"] == 6 and run["recipe"]["dpo_beta"] == 0.1
    assert (Path(handle.run_dir) / "adapter" / "adapter_config.json").exists()
    rows = [json.loads(line) for line in (Path(handle.run_dir) / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/margins" in r for r in rows)
    assert any(r["kind"] == "train_dpo" for r in registry.runs())


# ---------------------------------------------------------------------------------------------- base models


def test_base_model_references(train_ws, tiny_model_dir):
    from specialize.runtime.errors import NotFound
    from specialize.training.basemodels import resolve_base_model

    local = resolve_base_model(str(tiny_model_dir))
    assert local.source == "hf-folder" and Path(local.path) == Path(tiny_model_dir).resolve()
    hub = resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert hub.source == "hub" and hub.path == "HuggingFaceTB/SmolLM2-135M-Instruct"
    with pytest.raises(NotFound):
        resolve_base_model("no such model")


@pytest.mark.slow
def test_embedded_gguf_is_dequantized_once_into_a_plain_hf_folder(workspace):
    from transformers import AutoConfig, AutoTokenizer

    from specialize.training.basemodels import resolve_base_model

    base = resolve_base_model("embedded:smollm2-135m")
    assert base.source == "embedded-gguf" and base.gguf_file.endswith(".gguf")
    folder = Path(base.path)
    assert folder.is_relative_to(workspace / "models")
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert AutoConfig.from_pretrained(folder).num_hidden_layers == 30
    tok = AutoTokenizer.from_pretrained(folder)
    assert "<|im_start|>" in tok.chat_template and tok.eos_token == "<|im_end|>"
    stamp = (folder / "config.json").stat().st_mtime
    t = time.monotonic()
    assert resolve_base_model("embedded:smollm2-135m").path == base.path  # cached
    assert time.monotonic() - t < 2 and (folder / "config.json").stat().st_mtime == stamp
