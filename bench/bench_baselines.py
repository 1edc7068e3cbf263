"""Measure the cheap baselines and constrained output of the embedded 135M model on the support-triage task.

Three parts, each printing a table (nothing is asserted):

* ``eval``: category accuracy and parse / schema rates on the locked golden set for the base model with the
  plain prompt, the better prompt, the better prompt with decoding constrained to the task schema, and that
  plus k few-shot examples from the seed rows.
* ``teacher``: schema-valid rows the model writes as a generate_batch teacher through llama.cpp's server on
  127.0.0.1, asked for rows constrained to the row schema and unconstrained (the demo's settings).
* ``judge``: the share of judge calls that parse into a verdict, through the same server, constrained to the
  verdict schema, in plain JSON-object mode, and with no response format.

    .venv/bin/python bench/bench_baselines.py [--part eval|teacher|judge|all] [--limit 40] [--threads 1]

On a shared 2-core machine one llama.cpp thread is faster than two (see bench_export.py), hence the default.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TASK = "builtin:tasks/support-triage"
MODEL = "embedded:smollm2-135m"


def part_eval(args: argparse.Namespace) -> dict[str, str]:
    from specialize.tools.evaluate import RunEvalParams, run_eval

    configs = [
        ("a_plain_prompt", {"system_prompt": f"{TASK}/system_prompt.txt"}),
        ("b_better_prompt", {"system_prompt": f"{TASK}/better_prompt.txt"}),
        ("c_better_constrained", {"system_prompt": f"{TASK}/better_prompt.txt", "constrained": True}),
        ("d_better_constrained_8shot", {"system_prompt": f"{TASK}/better_prompt.txt", "constrained": True,
                                        "few_shot_k": args.shots, "few_shot_path": f"{TASK}/seeds.jsonl"}),
    ]
    paths = {}
    print(f"{'baseline':30} {'n':>3} {'category acc':>12} {'95% CI':>13} {'parse':>6} {'schema':>6} "
          f"{'all 3 crit.':>11} {'seconds':>8} {'s/item':>6}  mode")
    for name, extra in configs:
        started = time.perf_counter()
        res = run_eval(RunEvalParams(model=MODEL, eval_set=f"{TASK}/eval/golden.jsonl",
                                     task_card=f"{TASK}/task.yaml", max_tokens=args.max_tokens,
                                     n_threads=args.threads, n_ctx=4096, limit=args.limit,
                                     output=f"evals/{name}.json", background=False, **extra))
        secs = time.perf_counter() - started
        m = res.metrics
        ci = m.get("accuracy_ci") or [None, None]
        print(f"{name:30} {res.n:>3} {m['accuracy']:>12.3f} {ci[0]:>6.3f}-{ci[1]:<6.3f} {m['parse_rate']:>6.3f} "
              f"{m['schema_pass_rate']:>6.3f} {m['critical_field_accuracy']:>11.3f} {secs:>8.1f} "
              f"{secs / res.n:>6.2f}  {res.decoding_mode}{' shots=' + ','.join(res.few_shot_ids) if res.few_shot_ids else ''}",
              flush=True)
        paths[name] = res.results_path or ""
    return paths


def _schema_valid(batch: Path) -> tuple[int, int]:
    import jsonschema

    from specialize.runtime.workspace import resolve_path

    schema = json.loads(resolve_path(f"{TASK}/schema.json", arg="schema").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    rows = [json.loads(line) for line in batch.read_text().splitlines() if line.strip()]
    ok = 0
    for row in rows:
        try:
            ok += not list(validator.iter_errors(json.loads(row["messages"][-1]["content"])))
        except (ValueError, KeyError, IndexError):
            pass
    return len(rows), ok


def part_teacher(args: argparse.Namespace, api_base: str) -> None:
    import yaml

    from specialize.runtime.workspace import resolve_path
    from specialize.tools.generate import GenerateBatchParams, generate_batch

    card = yaml.safe_load(resolve_path(f"{TASK}/task.yaml", arg="task").read_text())
    gp = card["generation_plan"]
    cells = [{"category": "billing", "difficulty": "easy", "count": 4},
             {"category": "bug_report", "difficulty": "medium", "count": 4}]
    print(f"\n{'teacher output':16} {'asked':>5} {'rows':>4} {'schema-valid':>12} {'rejected':>8} {'seconds':>8}  mode")
    for constrained in (True, False):
        started = time.perf_counter()
        res = generate_batch(GenerateBatchParams(
            model="hosted_vllm/teacher", api_base=api_base, task_description=card["description"],
            schema_path=f"{TASK}/schema.json", cells=cells, required_edge_cases=gp["required_edge_cases"],
            negative_constraints=gp["negative_constraints"], seed_examples_path=f"{TASK}/seeds.jsonl",
            rows_per_request=4, temperature=0.8, max_tokens=args.teacher_tokens, concurrency=1, timeout_s=600,
            constrained=constrained, out_dir=f"data/{'constrained' if constrained else 'free'}"))
        secs = time.perf_counter() - started
        ws = Path(os.environ["SPECIALIZE_WORKSPACE"])
        n, ok = _schema_valid(ws / res.batch_path)
        print(f"{'constrained' if constrained else 'unconstrained':16} {res.planned_rows:>5} {n:>4} {ok:>12} "
              f"{res.rejected:>8} {secs:>8.1f}  {res.decoding_mode}", flush=True)


def part_judge(args: argparse.Namespace, api_base: str, paths: dict[str, str]) -> None:
    from specialize.evaluation import judging
    from specialize.llm.client import LLMClient

    rubric = judging.load_rubric("customer_support")
    models = []
    for key in ("b_better_prompt", "c_better_constrained"):
        _, items = judging.load_responses(paths[key])
        models.append((key, dict(list(items.items())[:args.judge_items])))
    constrained, mode = judging.verdict_response_format("hosted_vllm/teacher", rubric, api_base=api_base,
                                                       json_mode=True)
    print(f"\n{'judge output':16} {'calls':>5} {'parsed':>6} {'rate':>5} {'seconds':>8}")
    for label, fmt in ((f"constrained ({mode})", constrained), ("json_object", {"type": "json_object"}),
                       ("no format", None)):
        client = LLMClient(api_base=api_base, concurrency=1, cache=False, timeout_s=600)
        started = time.perf_counter()
        recs = judging.judge_pairs(models=models, pairs=[(0, 1)], client=client, judge_model="hosted_vllm/teacher",
                                   rubric=rubric, task="Triage a support ticket into a JSON object.", retries=0,
                                   response_format=fmt, max_tokens=args.judge_tokens)
        secs = time.perf_counter() - started
        calls = [c for r in recs for c in r["calls"]]
        parsed = sum(c.get("verdict") is not None for c in calls)
        print(f"{label:16} {len(calls):>5} {parsed:>6} {parsed / len(calls):>5.2f} {secs:>8.1f}", flush=True)
        bad = next((c for c in calls if c.get("verdict") is None), None)
        if bad:
            print(f"   e.g. unparsed ({bad['error']}): {(bad.get('raw') or '')[:160]!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["eval", "teacher", "judge", "all"], default="all")
    ap.add_argument("--limit", type=int, default=None, help="golden items (default: all 40)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=40, help="answer token limit (the demo uses 40)")
    ap.add_argument("--shots", type=int, default=8)
    ap.add_argument("--teacher-tokens", type=int, default=320, help="the demo's teacher limit for 4 rows")
    ap.add_argument("--judge-items", type=int, default=6)
    ap.add_argument("--judge-tokens", type=int, default=128, help="the demo's judge limit")
    ap.add_argument("--workspace", default=None)
    args = ap.parse_args()
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="bench-baselines-"))
    ws.mkdir(parents=True, exist_ok=True)
    os.environ["SPECIALIZE_WORKSPACE"] = str(ws)
    print(f"workspace {ws}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    paths: dict[str, str] = {}
    if args.part in ("eval", "all", "judge"):
        if args.part == "judge" and (ws / "evals" / "c_better_constrained.json").exists():
            paths = {k: f"evals/{k}.json" for k in ("b_better_prompt", "c_better_constrained")}
        else:
            paths = part_eval(args)
    if args.part in ("teacher", "judge", "all"):
        from specialize.export.serving import start_server
        from specialize.runtime.embedded import embedded_gguf_path

        proc, api_base = start_server(embedded_gguf_path(), alias="teacher", n_ctx=4096, n_threads=args.threads,
                                      log_file=ws / "llama-server.log")
        try:
            if args.part in ("teacher", "all"):
                part_teacher(args, api_base)
            if args.part in ("judge", "all"):
                part_judge(args, api_base, paths)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    main()
