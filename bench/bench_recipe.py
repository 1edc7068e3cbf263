"""Find the demo's fine-tuning recipe by measurement: golden accuracy against training seconds.

Prepares the demo's training split the way ``specialize demo`` does (validate_rows + split_dataset on the bundled
seed rows of the support-triage task), then for each configuration:
  train_qlora on the embedded SmolLM2-135M-Instruct -> export_gguf (q8_0) -> run_eval on the 40 locked golden items,
with decoding constrained to the task's JSON schema (as the demo scores every local model).
One line per configuration: training steps, epochs, seconds, golden category accuracy and all-fields accuracy.

usage: python bench/bench_recipe.py [--configs NAME,NAME] [--workspace DIR] [--list]
The machine's load is printed with the figures: on a shared 2-core machine seconds move with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TASK = "builtin:tasks/support-triage"
BASE = {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 1, "max_seq_length": 512,
        "packing": False, "group_by_length": True, "early_stopping": False, "lr_scheduler_type": "linear",
        "warmup_ratio": 0.05, "lora_dropout": 0.0, "save_steps": 1000, "eval_steps": 1000}
CONFIGS: dict[str, dict] = {
    "r16-all-lr1e-3-e3": {"lora_r": 16, "lora_alpha": 32, "learning_rate": 1e-3, "num_train_epochs": 3},
    "r32-all-lr1e-3-e5": {"lora_r": 32, "lora_alpha": 64, "learning_rate": 1e-3, "num_train_epochs": 5},
    "r16-top8-lr2e-3-e3": {"lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-3, "num_train_epochs": 3,
                           "lora_layers": 8},
    "r16-top12-lr2e-3-e4": {"lora_r": 16, "lora_alpha": 32, "learning_rate": 2e-3, "num_train_epochs": 4,
                            "lora_layers": 12},
    "r32-top12-lr1e-3-e4": {"lora_r": 32, "lora_alpha": 64, "learning_rate": 1e-3, "num_train_epochs": 4,
                            "lora_layers": 12},
    "r32-top12-lr2e-3-e6": {"lora_r": 32, "lora_alpha": 64, "learning_rate": 2e-3, "num_train_epochs": 6,
                            "lora_layers": 12},
    "r32-top16-lr2e-3-e6": {"lora_r": 32, "lora_alpha": 64, "learning_rate": 2e-3, "num_train_epochs": 6,
                            "lora_layers": 16},
}


def _wait(job_id: str) -> dict:
    from specialize.runtime import jobs

    while True:
        status = jobs.read_status(job_id)
        if status["state"] in jobs.FINAL:
            if status["state"] != "succeeded":
                raise SystemExit(f"job {job_id} {status['state']}: {status.get('error')}\n"
                                 + "\n".join(status.get("log_tail") or []))
            return status
        time.sleep(1)


def prepare(tools: dict) -> dict:
    evals = [f"{TASK}/eval/{n}.jsonl" for n in ("dev", "test", "golden", "adversarial")]
    v = tools["validate_rows"].run(dict(input_path=f"{TASK}/seeds.jsonl", out_dir="bench/validated",
                                        expected_format="chat", schema_path=f"{TASK}/schema.json",
                                        eval_sets=evals, plan_path=f"{TASK}/task.yaml"))
    s = tools["split_dataset"].run(dict(input_path=v.accepted_path, out_dir="bench/splits",
                                        golden_path=f"{TASK}/eval/golden.jsonl", seed=0))
    return s.paths


def score(tools: dict, model: str, key: str) -> dict:
    extra = {"constrained": True} if "constrained" in tools["run_eval"].params.model_fields else {}
    res = tools["run_eval"].run(dict(model=model, eval_set=f"{TASK}/eval/golden.jsonl",
                                     task_card=f"{TASK}/task.yaml", max_tokens=48, background=False,
                                     output=f"bench/evals/{key}.json", **extra))
    doc = json.loads(Path(res.results_path).read_text()) if Path(res.results_path).is_absolute() else \
        json.loads((Path(os.environ["SPECIALIZE_WORKSPACE"]) / res.results_path).read_text())
    examples = doc["examples"]
    cat = sum(1 for e in examples if (e.get("fields") or {}).get("category"))
    allf = sum(1 for e in examples if e.get("exact_match"))
    return {"n": len(examples), "category": cat, "all_fields": allf, "constrained": bool(extra)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    if a.list:
        for k, v in CONFIGS.items():
            print(k, {**BASE, **v})
        return
    os.environ["SPECIALIZE_WORKSPACE"] = a.workspace or tempfile.mkdtemp(prefix="bench-recipe-")
    from specialize.runtime.catalog import load_all
    from specialize.runtime.embedded import EMBEDDED_ALIAS

    tools = load_all()
    paths = prepare(tools)
    n_train = sum(1 for line in open(Path(os.environ["SPECIALIZE_WORKSPACE"]) / paths["train"]) if line.strip())
    print(f"workspace {os.environ['SPECIALIZE_WORKSPACE']}; {n_train} training rows; "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for name in a.configs.split(","):
        overrides = {**BASE, **CONFIGS[name]}
        t0 = time.perf_counter()
        h = tools["train_qlora"].run(dict(dataset=paths["train"], base_model=EMBEDDED_ALIAS, label=f"bench-{name}",
                                          overrides=overrides))
        st = _wait(h.job_id)
        train_s = time.perf_counter() - t0
        m = st["result"].get("metrics", {})
        t1 = time.perf_counter()
        e = tools["export_gguf"].run(dict(source=st["run_dir"], quants=["q8_0"], name=f"bench-{name}"))
        ex = _wait(e.job_id)["result"]
        gguf = next(f["path"] for f in ex["files"] if f.get("quant", f.get("type")) == "q8_0" or
                    str(f.get("path", "")).endswith("q8_0.gguf"))
        export_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        sc = score(tools, gguf, name)
        eval_s = time.perf_counter() - t2
        print(json.dumps({"config": name, "steps": m.get("steps"), "epochs": overrides["num_train_epochs"],
                          "train_s": round(train_s, 1), "export_s": round(export_s, 1), "eval_s": round(eval_s, 1),
                          "loss_first": m.get("train_loss_first"), "loss_last": m.get("train_loss_last"),
                          "golden_category": f"{sc['category']}/{sc['n']}", "golden_all_fields": sc["all_fields"],
                          "constrained": sc["constrained"], "load": round(os.getloadavg()[0], 1)}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
