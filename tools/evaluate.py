"""run_eval: run one model over an eval set (JSONL) and score it for the task type.

Each eval row is a chat: the prompt is every message before the last assistant message and the reference
is that last assistant message; ``meta`` (category, difficulty, ...) is kept for failure buckets. The
results JSON holds the metrics with bootstrap CIs, latency percentiles, tokens/s, cost per 1,000 requests,
every example's prediction and error type, and failure buckets so the data pipeline can repair the weak
spots. Baselines are the same call on the base model, the base model with a better ``system_prompt``, and
a larger model; ``constrained`` adds decoding constrained to the answer schema, and ``few_shot_k`` adds k solved
training rows as earlier turns. The results' provenance records the decoding mode and the shots' ids and hash, so
each baseline can be named exactly. Big eval sets run as a job.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from specialize.tools.job_tools import JobHandle, to_handle

from specialize.data.chatrows import iter_chat_rows
from specialize.data.sampling import take_in_turn
from specialize.runtime import jobs, tracking
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.registry import sha256_file
from specialize.runtime.schema import Params, Result, SparseResult
from specialize.runtime.workspace import (InputDir, InputFile, NameOrPath, OutputFile, TextOrFile, make_dirs,
                                         names_a_file, rel, resolve_path, workspace_root, write_text)

TaskType = Literal["classification", "extraction", "json", "json_extraction", "tool_call"]


class RunEvalParams(Params):
    model: NameOrPath = Field(description="Model reference: a litellm string (openai/..., with api_base for a local "
                                   "server), a local Hugging Face folder, a .gguf file, or embedded:smollm2-135m.")
    eval_set: InputFile = Field(description="Eval set JSONL of chat rows {id, messages, meta}; the last assistant "
                                      "message is the reference.")
    task_type: TaskType = Field("extraction", description="How answers are scored: classification, extraction "
                                                          "(json_extraction is the same), json or tool_call.")
    task_card: InputFile | None = Field(None, description="A task.yaml (e.g. builtin:tasks/support-triage/task.yaml) "
                                                    "supplying task_type, schema, label_field and critical_fields "
                                                    "wherever these are not given.")
    adapter: InputDir | None = Field(None, description="LoRA adapter folder applied to a local Hugging Face model.")
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server for litellm models.")
    system_prompt: TextOrFile | None = Field(None, description="System prompt (text, or a path to a .txt/.md/.j2 file "
                                                        "in the workspace) put "
                                                        "before each conversation, replacing any system message; "
                                                        "the 'better prompt' baseline.")
    schema_path: InputFile | None = Field(None, description="JSON Schema file the answers must satisfy "
                                                      "(schema pass rate; the schema 'constrained' decodes to).")
    constrained: bool = Field(False, description="Constrain decoding to the answer schema (schema_path or the task "
                                                 "card's): llama.cpp models sample under a grammar built from it, "
                                                 "litellm models get the response format their server supports; "
                                                 "transformers models are refused (export them to GGUF).")
    few_shot_k: int = Field(0, ge=0, le=64, description="Solved examples from few_shot_path shown before each item "
                                                        "as earlier user/assistant turns, taken in turn across the "
                                                        "label field's values.")
    few_shot_path: InputFile | None = Field(None, description="Training JSONL (chat rows) the few-shot examples "
                                            "come from; "
                                                        "refused if it shares an id or an input with the eval set.")
    label_field: str | None = Field(None, description="JSON field holding the class label (classification metrics).")
    critical_fields: list[str] = Field(default_factory=list, description="Fields that must be right "
                                                                         "(critical-field accuracy).")
    max_tokens: int = Field(256, ge=1, le=32768, description="Completion token limit per example.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature; 0 (greedy) for evaluation.")
    limit: int | None = Field(None, ge=1, description="Evaluate only N rows (a smoke run): the first N, or N taken "
                                                    "in turn from each group when limit_by is set.")
    limit_by: str | None = Field(None, description="A meta field (e.g. 'category') whose values 'limit' takes rows "
                                                   "from in turn, so a small run still covers every group; files "
                                                   "sorted by class give only one class with a plain limit.")
    concurrency: int = Field(8, ge=1, le=256, description="Parallel requests for litellm models.")
    cost_per_hour_usd: float | None = Field(None, ge=0, description="Hardware price of a self-hosted model, so "
                                                                    "its cost per request can be computed.")
    n_ctx: int = Field(2048, ge=256, description="Context length for GGUF models.")
    n_threads: int | None = Field(None, ge=1, le=256, description="CPU threads for GGUF models (default: half "
                                                                   "the cores).")
    bootstrap_resamples: int = Field(1000, ge=100, le=100_000, description="Bootstrap resamples for the CIs.")
    seed: int = Field(0, description="Seed for the bootstrap.")
    output: OutputFile | None = Field(None, description="Where to write the results JSON (default "
                                      "evals/<model>-<set>.json).")
    background: bool | None = Field(None, description="Run as a job: true; false = in the call however large (the "
                                    "call blocks until done); null = as a job when the set has more than "
                                    "job_threshold rows.")
    job_threshold: int = Field(200, ge=1, description="Row count above which a null 'background' starts a job.")


CI = list[float | None]  # [low, high] of a 95% percentile bootstrap interval; null where it is undefined


def _ci(metric: str) -> Any:
    return Field(None, description=f"95% bootstrap interval [low, high] of {metric}.")


class HeadlineMetrics(SparseResult):
    """The task metrics of one run, each rate with its bootstrap interval under ``<name>_ci``. Which ones are
    present depends on the task type (and on label_field, critical_fields and a schema being given)."""

    correct_rate: float | None = Field(None, description="Share of items fully right by the task type's rule "
                                                         "(every task type).")
    ci_methods: dict[str, str] | None = Field(None, description="How each metric's interval was computed "
                                                                "(metric name -> method).")
    stats_warnings: list[str] | None = Field(None, description="Small-sample and other warnings about the "
                                                               "intervals.")
    correct_rate_ci: CI | None = _ci("correct_rate")
    accuracy: float | None = Field(None, description="Label accuracy (classification, or any task with a "
                                                     "label_field).")
    accuracy_ci: CI | None = _ci("accuracy")
    macro_f1: float | None = Field(None, description="F1 averaged over the reference labels, each label weighing "
                                                     "the same.")
    macro_f1_ci: CI | None = _ci("macro_f1")
    parse_rate: float | None = Field(None, description="Share of answers that parse as JSON (non-classification "
                                                       "tasks).")
    parse_rate_ci: CI | None = _ci("parse_rate")
    schema_pass_rate: float | None = Field(None, description="Share of answers valid against the JSON Schema "
                                                             "(when one is given).")
    schema_pass_rate_ci: CI | None = _ci("schema_pass_rate")
    exact_match: float | None = Field(None, description="Share of answers equal to the reference after "
                                                        "normalising case and whitespace (extraction, json).")
    exact_match_ci: CI | None = _ci("exact_match")
    exact_key_match: float | None = Field(None, description="Share of answers with exactly the reference's keys "
                                                            "(extraction, json).")
    exact_key_match_ci: CI | None = _ci("exact_key_match")
    field_precision: float | None = Field(None, description="Fields right over fields answered, pooled over "
                                                            "items (extraction).")
    field_recall: float | None = Field(None, description="Fields right over fields in the references, pooled "
                                                         "over items (extraction).")
    field_f1: float | None = Field(None, description="Harmonic mean of field_precision and field_recall "
                                                     "(extraction).")
    field_match: float | None = Field(None, description="Mean per-item share of fields (reference and answer "
                                                        "keys together) that are right; 0 for an unparsable "
                                                        "answer (extraction).")
    field_match_ci: CI | None = _ci("field_match")
    critical_field_accuracy: float | None = Field(None, description="Share of items with every critical field "
                                                                    "right (extraction with critical_fields).")
    critical_field_accuracy_ci: CI | None = _ci("critical_field_accuracy")
    tool_name_accuracy: float | None = Field(None, description="Share of calls naming the right tool "
                                                               "(tool_call).")
    tool_name_accuracy_ci: CI | None = _ci("tool_name_accuracy")
    argument_accuracy: float | None = Field(None, description="Share of calls with the right tool and every "
                                                              "argument right (tool_call).")
    argument_accuracy_ci: CI | None = _ci("argument_accuracy")


class LatencySummary(SparseResult):
    p50: float | None = Field(None, description="Median seconds per request.")
    p95: float | None = Field(None, description="95th percentile, seconds.")
    p99: float | None = Field(None, description="99th percentile, seconds.")
    mean: float | None = Field(None, description="Mean seconds per request.")
    n_timed: int | None = Field(None, description="Requests timed: the first one (start-up) and cache hits are left out.")


class FailureBucket(Result):
    dimension: str = Field(description="What the items are grouped by: category, input_length or a meta field.")
    bucket: str = Field(description="The group's value (e.g. the category name, '<500 chars').")
    n: int = Field(description="Items in the group.")
    failures: int = Field(description="Items in the group that were not right.")


class RunEvalResult(Result):
    results_path: str | None = Field(None, description="Results JSON (metrics, predictions, failure buckets).")
    model: str = Field(description="The model reference evaluated.")
    n: int = Field(0, description="Examples scored.")
    rejected: int = Field(0, description="Eval rows that could not be used (each listed with a reason in the file).")
    primary_metric: str | None = Field(None, description="Name of the task's headline metric.")
    metrics: HeadlineMetrics = Field(default_factory=HeadlineMetrics, description="Headline metrics with CIs "
                                     "(per-class, per-field and error-type tables are in the results file).")
    latency_s: LatencySummary = Field(default_factory=LatencySummary, description="Latency p50/p95/p99 in "
                                                                                   "seconds.")
    tokens_per_s: float | None = Field(None, description="Completion tokens per second of generation time.")
    cost_per_1k_requests_usd: float | None = Field(None, description="Mean cost per request x 1,000 (null if "
                                                                      "unknown).")
    top_failure_buckets: list[FailureBucket] = Field(default_factory=list, description="Worst buckets overall "
                                                                                       "(error types left out).")
    decoding_mode: str | None = Field(None, description="How answers were constrained: unconstrained, "
                                                        "schema_grammar (llama.cpp), json_schema or json_object.")
    few_shot_ids: list[str] = Field(default_factory=list, description="Ids of the training rows shown as shots.")
    job: JobHandle | None = Field(None, description="Set when the evaluation was started as a job.")


def load_eval_rows(path: Path, limit: int | None = None,
                   limit_by: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split eval rows into usable (id, prompt, reference, meta) and rejected ones (with the reason)."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for cl in iter_chat_rows(path):
        if limit is not None and limit_by is None and len(rows) + len(rejected) >= limit:
            break
        if cl.problem:
            rejected.append({"line": cl.lineno, "reason": cl.problem} if cl.row is None and
                            cl.problem.startswith("not JSON") else
                            {"line": cl.lineno, "id": cl.row_id, "reason": cl.problem})
            continue
        last = cl.last_assistant
        if last is None or last == 0:
            rejected.append({"line": cl.lineno, "id": cl.row_id, "reason": "no assistant reference after a prompt"})
            continue
        rows.append({"id": str(cl.row.get("id", f"line-{cl.lineno}")), "prompt": cl.messages[:last],
                     "reference": str(cl.messages[last].get("content", "")), "meta": cl.row.get("meta") or {}})
    if limit is not None and limit_by is not None:
        rows = take_in_turn(rows, limit, lambda r: str(r["meta"].get(limit_by, "")))
    return rows, rejected


def apply_task_card(p: RunEvalParams) -> RunEvalParams:
    """Fill task_type, schema, label_field and critical_fields from a task card where they were not given."""
    if not p.task_card:
        return p
    import yaml

    card_path = resolve_path(p.task_card, arg="task_card", must_exist=True)
    card = yaml.safe_load(card_path.read_text(encoding="utf-8")) or {}
    given = p.model_fields_set
    update: dict[str, Any] = {}
    if "task_type" not in given and card.get("task_type") in TaskType.__args__:  # type: ignore[attr-defined]
        update["task_type"] = card["task_type"]
    if "schema_path" not in given and card.get("schema"):
        base = p.task_card.rsplit("/", 1)[0] if p.task_card.startswith("builtin:") else str(card_path.parent)
        update["schema_path"] = f"{base}/{card['schema']}"
    if "label_field" not in given and card.get("label_field"):
        update["label_field"] = card["label_field"]
    if "critical_fields" not in given and card.get("critical_fields"):
        update["critical_fields"] = list(card["critical_fields"])
    return p.model_copy(update=update)


def _system_prompt(value: str | None) -> str | None:
    if not value:
        return None
    if names_a_file(value):
        return resolve_path(value, arg="system_prompt", must_exist=True).read_text(encoding="utf-8")
    return value


def _with_system(prompt: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    if system is None:
        return prompt
    return [{"role": "system", "content": system}, *[m for m in prompt if m.get("role") != "system"]]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-60:] or "model"


def evaluate(p: RunEvalParams, progress: Any = None) -> dict[str, Any]:
    """The work of run_eval (in process); returns the results document and writes it to disk."""
    from specialize.evaluation import stats
    from specialize.evaluation.metrics import (
        PRIMARY,
        aggregate,
        check_label_field,
        failure_buckets,
        length_bucket,
        score_example,
    )
    from specialize.evaluation.models import load_model
    from specialize.llm.structured import UNCONSTRAINED, schema_sha256

    p = apply_task_card(p)
    set_path = resolve_path(p.eval_set, arg="eval_set", must_exist=True)
    rows, rejected = load_eval_rows(set_path, p.limit, p.limit_by)
    task_type = "extraction" if p.task_type == "json_extraction" else p.task_type
    if not rows:
        raise InvalidInput(f"No usable rows in {p.eval_set} ({len(rejected)} rejected).",
                           fix="Each row needs messages ending with the assistant reference.")
    check_label_field(rows, p.label_field)
    validator = None
    schema: dict[str, Any] | None = None
    if p.schema_path:
        import jsonschema

        schema = json.loads(resolve_path(p.schema_path, arg="schema_path", must_exist=True).read_text())
        validator = jsonschema.Draft202012Validator(schema)
    if p.constrained and schema is None:
        raise InvalidInput("Constrained decoding needs the answer's JSON schema, and none was given.",
                           fix="Pass schema_path, or a task_card that names a schema.")
    if p.few_shot_k and not p.few_shot_path:
        raise InvalidInput(f"few_shot_k={p.few_shot_k} needs a file to take the examples from.",
                           fix="Pass few_shot_path: the training split (never the eval set).")
    shots = None
    if p.few_shot_k:
        from specialize.evaluation.fewshot import pick_shots

        shot_path = resolve_path(p.few_shot_path, arg="few_shot_path", must_exist=True)  # type: ignore[arg-type]
        shots = pick_shots(shot_path, p.few_shot_k, label_field=p.label_field, eval_rows=rows)
        shots.update(path=rel(shot_path), file_sha256=sha256_file(shot_path))
    system = _system_prompt(p.system_prompt)
    model = load_model(p.model, adapter=p.adapter, api_base=p.api_base, concurrency=p.concurrency,
                       cost_per_hour_usd=p.cost_per_hour_usd, n_ctx=p.n_ctx,
                       n_threads=p.n_threads)
    decode_schema = schema if p.constrained else None
    mode = model.decoding_mode(decode_schema)  # refuses before any generation when the backend cannot constrain
    prompts = [_with_system(r["prompt"], system) for r in rows]
    if shots:
        from specialize.evaluation.fewshot import with_shots

        sent = [with_shots(pr, shots["turns"]) for pr in prompts]
    else:
        sent = prompts
    done = {"n": 0}

    def on_done(i: int, res: Any) -> None:
        done["n"] += 1
        if progress is not None:
            progress(done["n"], len(rows), message=f"{done['n']}/{len(rows)} generated")

    # The first request goes alone and is left out of the latency figures: it carries one-off start-up work
    # (client initialisation, first forward pass) that no later request pays.
    gens = model.generate_many(sent[:1], max_tokens=p.max_tokens, temperature=p.temperature, on_done=on_done,
                               schema=decode_schema)
    if len(sent) > 1:
        rest = model.generate_many(sent[1:], max_tokens=p.max_tokens, temperature=p.temperature,
                                   on_done=lambda i, r: on_done(i + 1, r), schema=decode_schema)
        gens = [*gens, *rest]
    examples = []
    for row, prompt, gen in zip(rows, prompts, gens):
        failed = isinstance(gen, Exception)
        rec = score_example(task_type, None if failed else gen.text, row["reference"], label_field=p.label_field,
                            critical_fields=p.critical_fields, validator=validator)
        chars = sum(len(str(m.get("content", ""))) for m in prompt)
        ex = {"id": row["id"], "meta": row["meta"], "prompt": prompt, "prediction": None if failed else gen.text,
              "reference": row["reference"], "length_bucket": length_bucket(chars), "input_chars": chars,
              **{k: v for k, v in rec.items() if k not in ("prediction_json",)}}
        if failed:
            ex["error"] = str(gen)
        else:
            ex.update(latency_s=gen.latency_s, prompt_tokens=gen.prompt_tokens,
                      completion_tokens=gen.completion_tokens, cost_usd=gen.cost_usd, cached=gen.cached)
        examples.append(ex)
    ok = [e for e in examples if "error" not in e]
    if len(examples) > 1:
        examples[0]["warmup"] = True
    timed = [e for e in ok if not e.get("cached") and not e.get("warmup")]
    lat = [e["latency_s"] for e in timed]
    gen_time = sum(lat)
    costs = [e.get("cost_usd") for e in ok]
    cost_known = bool(ok) and all(c is not None for c in costs)
    metrics = aggregate(task_type, examples, label_field=p.label_field, critical_fields=p.critical_fields,
                        n_resamples=p.bootstrap_resamples, seed=p.seed)
    primary = PRIMARY[task_type]
    if primary not in metrics:
        primary = "accuracy" if "accuracy" in metrics else "correct_rate"
    out_path = resolve_path(p.output or f"evals/{_slug(p.model)}-{set_path.stem}.json", arg="output", for_write=True)
    doc = {
        "kind": "eval_results",
        "model": model.describe(),
        "eval_set": {"path": rel(set_path), "sha256": sha256_file(set_path), "rows": len(rows) + len(rejected)},
        "task_type": p.task_type, "primary_metric": primary,
        "n": len(examples), "n_failed_generations": len(examples) - len(ok),
        "metrics": metrics,
        "latency_s": {**stats.percentiles(lat), "mean": (gen_time / len(lat)) if lat else None, "n_timed": len(lat)},
        "tokens_per_s": (sum(e["completion_tokens"] for e in timed) / gen_time) if gen_time > 0 else None,
        "cost_per_request_usd": (sum(costs) / len(ok)) if cost_known else None,  # type: ignore[arg-type]
        "cost_per_1k_requests_usd": (1000 * sum(costs) / len(ok)) if cost_known else None,  # type: ignore[arg-type]
        "failure_buckets": failure_buckets(examples),
        "rejected": rejected,
        "examples": examples,
        "provenance": {"params": p.model_dump(mode="json"),
                       "system_prompt_sha256": hashlib.sha256(system.encode()).hexdigest() if system else None,
                       "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       "decoding": ("greedy" if p.temperature == 0 else f"temperature={p.temperature}")
                       + ("" if mode == UNCONSTRAINED else f", {mode}"),
                       "decoding_mode": mode,
                       "decoding_schema_sha256": schema_sha256(decode_schema) if decode_schema else None,
                       "few_shot": None if not shots else {
                           "k": shots["k"], "path": shots["path"], "file_sha256": shots["file_sha256"],
                           "ids": shots["ids"], "labels": shots["labels"], "turns_sha256": shots["sha256"],
                           "unusable_rows": len(shots["unusable_rows"]),
                           "note": "each example's 'prompt' leaves out these shot turns, which came before it"},
                       "bootstrap_resamples": p.bootstrap_resamples, "seed": p.seed},
    }
    make_dirs(out_path.parent, arg="output")
    write_text(out_path, json.dumps(doc, indent=1, default=str), arg="output")
    from specialize.runtime.registry import record_run

    record_run({"kind": "eval", "model": p.model, "adapter": p.adapter, "eval_set": rel(set_path),
                "eval_set_sha256": doc["eval_set"]["sha256"], "results": rel(out_path), "n": len(examples),
                "primary_metric": primary, "value": metrics.get(primary), "decoding_mode": mode,
                "few_shot_k": p.few_shot_k})
    tracking.log_run("run_eval", name=f"{_slug(p.model)} on {set_path.stem}", params=p.model_dump(mode="json"),
                     result={k: doc[k] for k in ("primary_metric", "n", "n_failed_generations", "metrics", "latency_s",
                                                 "tokens_per_s", "cost_per_request_usd", "cost_per_1k_requests_usd")},
                     datasets={"eval_set": doc["eval_set"]["sha256"]}, artifacts={"results": rel(out_path)})
    doc["_path"] = str(out_path)
    return doc


def _summary(doc: dict[str, Any]) -> RunEvalResult:
    m = doc["metrics"]
    head = {k: v for k, v in m.items() if not isinstance(v, dict) and k != "error_types"}
    buckets = [dict(b, dimension=dim) for dim, rows in doc["failure_buckets"].items() if dim != "error_type"
               for b in rows if b["failures"]]
    buckets.sort(key=lambda b: -b["failures"])
    return RunEvalResult(results_path=rel(Path(doc["_path"])), model=doc["model"]["ref"], n=doc["n"],
                         rejected=len(doc["rejected"]), primary_metric=doc["primary_metric"], metrics=head,
                         latency_s=doc["latency_s"], tokens_per_s=doc["tokens_per_s"],
                         cost_per_1k_requests_usd=doc["cost_per_1k_requests_usd"],
                         top_failure_buckets=[{k: b[k] for k in ("dimension", "bucket", "n", "failures")}
                                              for b in buckets[:8]],
                         decoding_mode=doc["provenance"].get("decoding_mode"),
                         few_shot_ids=(doc["provenance"].get("few_shot") or {}).get("ids", []))


@tool(open_world=True)
def run_eval(params: RunEvalParams, *, progress=None) -> RunEvalResult:
    """Run a model over an eval set and score it: task metrics with bootstrap CIs, latency, cost, failure buckets.

    Metrics by task type: classification (accuracy, macro-F1, per-class precision/recall, confusion matrix),
    extraction (exact match, field precision/recall/F1, critical-field accuracy), json (parse rate, schema pass
    rate, exact key match), tool_call (tool-name and argument accuracy). Every run also reports latency
    p50/p95/p99, tokens/s and cost per 1,000 requests. The results JSON keeps each example's prediction and
    error type and groups failures by category, input length and error type. Baselines are this same call on
    the base model, the base model with a better system_prompt, and a larger model. Large sets run as a job.
    """
    set_path = resolve_path(params.eval_set, arg="eval_set", must_exist=True)
    if params.output:  # refused before any model is called, not after the whole run
        resolve_path(params.output, arg="output", for_write=True)
    background = params.background
    if background is None:
        with open(set_path, "rb") as fh:
            n_rows = sum(1 for line in fh if line.strip())
        background = min(n_rows, params.limit or n_rows) > params.job_threshold
    if background:
        payload = params.model_copy(update={"background": False})
        return RunEvalResult(model=params.model,
                             job=to_handle(jobs.start_job("run_eval", "specialize.tools.evaluate:eval_worker",
                                                          payload)))
    return _summary(evaluate(params, progress))


def eval_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    p = RunEvalParams.model_validate(raw)
    doc = evaluate(p, lambda step, total, message=None: ctx.progress(step, total, message=message))
    return _summary(doc).model_dump(mode="json")


__all__ = ["run_eval", "evaluate", "load_eval_rows", "RunEvalParams", "RunEvalResult", "workspace_root"]
