"""A real learning test: the tiny test model, fine-tuned through train_qlora on a separable toy task, beats
its own untrained base and a majority-class baseline on held-out golden items, with paired 95% CIs of the
differences above zero.

The toy task is four-way ticket triage where one keyword in the message decides the label (``invoice`` ->
billing, ``crash`` -> bug, ``feature`` -> product, ``lawyer`` -> human; each label is one token of the tiny
tokenizer) and the rest of the message is neutral filler drawn from the same pool for every class. Training and golden messages are disjoint. Both
models are scored by the real run_eval tool (transformers backend, the trained one as base + adapter); the
majority-class baseline's per-item results are built here by hand. The statistics are computed here too,
independently of specialize.evaluation.stats: a numpy paired bootstrap of the per-item differences, and an
exact one-sided sign test (scipy) on the discordant pairs.

The model is the tiny test Llama built 256 wide instead of 64: LoRA leaves the tied embeddings (initialised
with std 0.02) and the final norm frozen, so the largest logit it can reach is about 0.02 x width; at width 64
that is about 1.3 over a 497-token vocabulary, the loss cannot fall below about 5 nats and greedy answers stay
fragile (measured: 0.25-0.75 golden accuracy after 96 steps, depending on the learning rate). At width 256
the same recipe reaches every golden item within about 48 steps.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from specialize.runtime import jobs
from specialize.runtime.catalog import get

KEYWORDS = {"billing": "invoice", "bug": "crash", "product": "feature", "human": "lawyer"}
OPENERS = ["hello", "hi team", "please help", "good morning", "quick question", "urgent", "hey there", "sorry"]
MIDDLES = ["my {k} is wrong", "the {k} again", "about the {k}", "a {k} problem", "the {k} today",
           "this {k} thing"]
TAILS = ["since monday", "for my team", "on the mobile app", "after the update", "this week", "right now",
         "thanks", "no idea why"]
N_TRAIN_PER_CLASS, N_GOLDEN_PER_CLASS = 16, 8
EPOCHS = 8


def _messages(rng: random.Random) -> list[str]:
    """Every (opener, middle, tail) combination once, shuffled: one keyword-free frame per combination."""
    frames = [f"{o}, {m} {t}" for o in OPENERS for m in MIDDLES for t in TAILS]
    rng.shuffle(frames)
    return frames


def toy_task() -> tuple[list[dict], list[dict]]:
    """Balanced train and golden chat rows; no golden message appears in training."""
    rng = random.Random(13)
    train, golden = [], []
    for label, keyword in KEYWORDS.items():
        frames = _messages(rng)
        texts = [f.format(k=keyword) for f in frames[:N_TRAIN_PER_CLASS + N_GOLDEN_PER_CLASS]]
        for i, text in enumerate(texts):
            row = {"id": f"{label}-{i}", "messages": [{"role": "user", "content": text},
                                                      {"role": "assistant", "content": label}],
                   "meta": {"category": label}}
            (train if i < N_TRAIN_PER_CLASS else golden).append(row)
    rng.shuffle(train)
    rng.shuffle(golden)
    return train, golden


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def paired_bootstrap_ci(a: np.ndarray, b: np.ndarray, *, resamples: int = 20_000, seed: int = 7) -> tuple[float, float]:
    """95% percentile bootstrap interval of mean(a - b), resampling items (pairs kept together)."""
    diff = a.astype(float) - b.astype(float)
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def sign_test_p(a: np.ndarray, b: np.ndarray) -> float:
    """Exact one-sided p-value that a wins the discordant pairs more often than chance (McNemar's exact test)."""
    from scipy.stats import binomtest

    wins, losses = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue if wins + losses else 1.0


@pytest.fixture(scope="module")
def wide_tiny_model_dir(tmp_path_factory):
    from tests.helpers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model-256"), hidden=256)


@pytest.mark.slow
def test_tiny_model_learns_a_separable_task_and_beats_base_and_majority(workspace, wide_tiny_model_dir,
                                                                         monkeypatch):
    tiny_model_dir = wide_tiny_model_dir
    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(Path(tiny_model_dir).parent))
    # One torch thread in the training job: on a shared 2-core machine two threads wait on each other and
    # the 64 steps took 51 s instead of 4 s (same losses to the last digit).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    train, golden = toy_task()
    assert not {r["messages"][0]["content"] for r in train} & {r["messages"][0]["content"] for r in golden}
    assert Counter(r["meta"]["category"] for r in golden) == {c: N_GOLDEN_PER_CLASS for c in KEYWORDS}
    _write(workspace / "train.jsonl", train)
    _write(workspace / "golden.jsonl", golden)

    handle = get("train_qlora").run({
        "dataset": "train.jsonl", "base_model": str(tiny_model_dir),
        "overrides": {"num_train_epochs": EPOCHS, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 1,
                      "learning_rate": 3e-3, "lr_scheduler_type": "constant_with_warmup", "warmup_ratio": 0.05,
                      "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "max_seq_length": 64,
                      "packing": False, "save_steps": 1000, "logging_steps": 8}})
    try:
        status = jobs.wait(handle.job_id, timeout=900)
    finally:  # never leave a training process behind when the wait gives up
        if jobs.read_status(handle.job_id)["state"] in jobs.ACTIVE:
            get("job_cancel").run({"job_id": handle.job_id})
    assert status["state"] == "succeeded", status.get("log_tail")
    run_dir = Path(handle.run_dir)
    steps = status["result"]["metrics"]["steps"]
    assert steps == EPOCHS * len(train) // 8  # every training row seen EPOCHS times

    evals = {}
    for name, adapter in (("trained", str(run_dir / "adapter")), ("base", None)):
        res = get("run_eval").run({"model": str(tiny_model_dir), "adapter": adapter, "eval_set": "golden.jsonl",
                                   "task_type": "classification", "max_tokens": 4, "background": False,
                                   "output": f"evals/{name}.json"})
        assert res.n == len(golden) and res.rejected == 0
        doc = json.loads((workspace / res.results_path).read_text())
        evals[name] = (res, doc)

    refs = [r["messages"][-1]["content"] for r in golden]
    correct = {}
    for name, (res, doc) in evals.items():
        assert [e["id"] for e in doc["examples"]] == [r["id"] for r in golden]
        # per-item correctness judged here from the raw prediction text, and run_eval agrees with it
        mine = np.array([(e["prediction"] or "").strip().lower() == ref for e, ref in zip(doc["examples"], refs)])
        assert mine.tolist() == [bool(e["correct"]) for e in doc["examples"]], name
        assert res.metrics.accuracy == pytest.approx(mine.mean()), name
        correct[name] = mine
    majority = Counter(r["messages"][-1]["content"] for r in train).most_common(1)[0][0]
    correct["majority"] = np.array([ref == majority for ref in refs])
    assert correct["majority"].mean() == pytest.approx(N_GOLDEN_PER_CLASS / len(golden))  # balanced: 1/4

    acc = {k: float(v.mean()) for k, v in correct.items()}
    print("accuracies:", acc, "steps:", steps,
          "predictions:", Counter(e["prediction"] for e in evals["trained"][1]["examples"]).most_common(6))
    for other in ("base", "majority"):
        low, high = paired_bootstrap_ci(correct["trained"], correct[other])
        print(f"trained - {other}: {acc['trained'] - acc[other]:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}],",
              f"sign test p = {sign_test_p(correct['trained'], correct[other]):.2g}")
        assert low > 0, (other, acc, low, high)
        assert sign_test_p(correct["trained"], correct[other]) < 0.05
