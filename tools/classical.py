"""run_classical_baseline: a TF-IDF + logistic-regression classifier trained on the training rows, as one more model.

It is the baseline that costs nothing to run: one scikit-learn classifier per categorical field of the task's
JSON schema (see specialize/evaluation/classical.py for the features and why), trained on the same chat rows
a fine-tune would see, then asked for every item of the eval set. Its answers are scored by run_eval's own
metric code and written in run_eval's results format (metrics with bootstrap CIs, every example, failure
buckets, provenance), so compare_models, release_gate and the demo report take it like any other model.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import time
from pathlib import Path
from typing import Any

from pydantic import Field
from specialize.tools.evaluate import (FailureBucket, HeadlineMetrics, LatencySummary, RunEvalParams,
                                      RunEvalResult, TaskType, _summary, apply_task_card, load_eval_rows)

from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.registry import sha256_file
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, OutputFile, rel, resolve_path

MODEL_REF = "classical:tfidf-logreg"


class RunClassicalBaselineParams(Params):
    train_path: InputFile = Field(description="Training JSONL of chat rows {id, messages}; the user turn(s) are the "
                                        "input and the last assistant message's JSON holds the labels.")
    eval_set: InputFile = Field(description="Eval set JSONL of chat rows {id, messages, meta}; the last assistant "
                                      "message is the reference (as for run_eval).")
    task_card: InputFile | None = Field(None, description="A task.yaml (e.g. builtin:tasks/support-triage/task.yaml) "
                                                    "supplying task_type, schema, label_field and critical_fields "
                                                    "wherever these are not given.")
    task_type: TaskType | None = Field(None, description="How answers are scored, as for run_eval "
                                                         "(classification, extraction, json_extraction, json); "
                                                         "default from the task card, else extraction.")
    schema_path: InputFile | None = Field(None, description="JSON Schema of the answer: its enum, boolean and nullable "
                                                      "string fields are the ones classified; also gives the "
                                                      "schema pass rate.")
    label_field: str | None = Field(None, description="JSON field holding the class label (classification "
                                                      "metrics).")
    critical_fields: list[str] = Field(default_factory=list, description="Fields that must be right "
                                                                         "(critical-field accuracy).")
    cost_per_hour_usd: float | None = Field(None, ge=0, description="Hardware price of the machine it runs on, so "
                                                                    "its cost per request can be computed.")
    bootstrap_resamples: int = Field(1000, ge=100, le=100_000, description="Bootstrap resamples for the CIs.")
    seed: int = Field(0, description="Seed for the classifiers and the bootstrap.")
    output: OutputFile | None = Field(None, description="Where to write the results JSON (default "
                                                 "evals/classical-<train>-<set>.json).")


Scalar = str | int | float | bool | None


class SkippedRow(Result):
    line: int = Field(description="Line of the training file (1-based).")
    id: str | None = Field(None, description="The row's id, when it has one.")
    reason: str = Field(description="Why the row was not used.")


class FieldReport(Result):
    field: str = Field(description="The answer field this classifier predicts.")
    classes: list[Scalar] = Field(description="The values seen in training (null is a class of its own; a "
                                              "non-scalar value is shown as its JSON text).")
    train_rows: int = Field(description="Training rows with a valid value for this field.")
    rows_left_out: int = Field(description="Usable training rows left out of this field only (missing value, or "
                                           "a value the schema refuses); the results file lists them.")
    constant: bool = Field(description="True when training had a single class, which every item then gets.")
    note: str | None = Field(None, description="What is special about this field, in words.")


class RunClassicalBaselineResult(Result):
    results_path: str = Field(description="Results JSON in run_eval's format (metrics, predictions, failure "
                                          "buckets).")
    model: str = Field(description="The model reference written in the results.")
    n: int = Field(description="Eval examples scored.")
    rejected: int = Field(description="Eval rows that could not be used (each listed with a reason in the file).")
    primary_metric: str | None = Field(None, description="Name of the task's headline metric.")
    metrics: HeadlineMetrics = Field(default_factory=HeadlineMetrics, description="Headline metrics with CIs, "
                                     "as run_eval reports them (per-class and per-field tables in the file).")
    field_accuracy: dict[str, float] = Field(default_factory=dict, description="Share of items right, per answer "
                                                                               "field.")
    latency_s: LatencySummary = Field(default_factory=LatencySummary, description="Per-item prediction time "
                                                                                   "p50/p95/p99 in seconds.")
    cost_per_1k_requests_usd: float | None = Field(None, description="Mean cost per request x 1,000.")
    top_failure_buckets: list[FailureBucket] = Field(default_factory=list, description="Worst buckets overall.")
    train_rows: int = Field(description="Rows in the training file.")
    train_used: int = Field(description="Training rows used (the rest are in train_skipped).")
    train_skipped: list[SkippedRow] = Field(default_factory=list, description="Training rows not used, each with "
                                                                              "its line, id and reason.")
    fields: list[FieldReport] = Field(description="One classifier per categorical field.")
    fields_not_predicted: dict[str, str] = Field(default_factory=dict, description="Schema fields this baseline "
                                                                                   "does not predict, with why.")
    train_seconds: float = Field(description="Wall-clock seconds to fit the features and every classifier.")
    train_cpu_seconds: float = Field(description="CPU seconds of that fit (a fairer figure on a busy machine).")
    predict_seconds: float = Field(description="Wall-clock seconds to predict every eval item.")
    predict_cpu_seconds: float = Field(description="CPU seconds of those predictions.")


def _resolved(p: RunClassicalBaselineParams) -> RunEvalParams:
    # The task card is read by run_eval's own rules, so both tools agree on task type, schema and fields.
    given = {k: getattr(p, k) for k in ("eval_set", "task_card", "task_type", "schema_path", "label_field",
                                        "critical_fields") if k in p.model_fields_set and getattr(p, k) is not None}
    return apply_task_card(RunEvalParams(model=MODEL_REF, **given))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-40:] or "set"


def build_results(p: RunClassicalBaselineParams, progress: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train, predict every eval item, score with run_eval's metric code; returns (document, extras)."""
    from specialize.evaluation import classical, stats
    from specialize.evaluation.metrics import (
        PRIMARY,
        aggregate,
        check_label_field,
        failure_buckets,
        length_bucket,
        score_example,
    )

    r = _resolved(p)
    task_type = "extraction" if r.task_type == "json_extraction" else r.task_type
    if task_type == "tool_call":
        raise InvalidInput("A tool call is not a set of labels.", fix="Use this baseline for labelling tasks.")
    if not r.schema_path:
        raise InvalidInput("No JSON schema: the classifier needs it to know which fields are labels.",
                           fix="Pass schema_path, or a task_card that names a schema.")
    schema = json.loads(resolve_path(r.schema_path, arg="schema_path", must_exist=True).read_text(encoding="utf-8"))
    fields, not_predicted = classical.categorical_fields(schema)
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)

    train_path = resolve_path(p.train_path, arg="train_path", must_exist=True)
    set_path = resolve_path(p.eval_set, arg="eval_set", must_exist=True)
    rows, rejected = load_eval_rows(set_path)
    if not rows:
        raise InvalidInput(f"No usable rows in {p.eval_set} ({len(rejected)} rejected).",
                           fix="Each row needs messages ending with the assistant reference.")
    check_label_field(rows, r.label_field)
    train = classical.read_training_rows(train_path)
    model = classical.fit(train, schema, fields, seed=p.seed)
    if progress is not None:
        progress(1, 2, message=f"trained on {len(train.texts)} rows in {model.train_seconds:.1f} s")

    order = list(schema["properties"])
    examples = []
    start, cpu = time.perf_counter(), time.process_time()
    for row in rows:
        t0 = time.perf_counter()
        pred = model.predict(classical.user_text(row["prompt"]))
        latency = time.perf_counter() - t0
        text = json.dumps({k: pred[k] for k in order if k in pred}, ensure_ascii=False)
        rec = score_example(task_type, text, row["reference"], label_field=r.label_field,
                            critical_fields=r.critical_fields, validator=validator)
        chars = sum(len(str(m.get("content", ""))) for m in row["prompt"])
        cost = p.cost_per_hour_usd * latency / 3600.0 if p.cost_per_hour_usd is not None else 0.0
        examples.append({"id": row["id"], "meta": row["meta"], "prompt": row["prompt"], "prediction": text,
                         "reference": row["reference"], "length_bucket": length_bucket(chars), "input_chars": chars,
                         **{k: v for k, v in rec.items() if k != "prediction_json"},
                         "latency_s": latency, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": cost,
                         "cached": False})
    predict_seconds, predict_cpu = time.perf_counter() - start, time.process_time() - cpu
    if progress is not None:
        progress(2, 2, message=f"predicted {len(examples)} items in {predict_seconds:.2f} s")
    if len(examples) > 1:
        examples[0]["warmup"] = True  # as in run_eval: the first call pays one-off costs and is not timed
    lat = [e["latency_s"] for e in examples if not e.get("warmup")]
    costs = [e["cost_usd"] for e in examples]
    metrics = aggregate(task_type, examples, label_field=r.label_field, critical_fields=r.critical_fields,
                        n_resamples=p.bootstrap_resamples, seed=p.seed)
    primary = PRIMARY[task_type]
    if primary not in metrics:
        primary = "accuracy" if "accuracy" in metrics else "correct_rate"
    # run_eval's metric code gives per-field accuracy for extraction tasks; other JSON tasks count it here alike.
    field_acc = metrics.get("field_accuracy") or {
        f: sum(bool((e.get("fields") or {}).get(f)) for e in examples) / len(examples)
        for f in order if any(f in (e.get("fields") or {}) for e in examples)}
    setting = classical.describe_setting()
    train_info = {"path": rel(train_path), "sha256": sha256_file(train_path), "rows": train.rows,
                  "used": len(train.texts), "skipped": train.skipped}
    reports = [f.report() for f in model.fields]
    doc = {
        "kind": "eval_results",
        "model": {"ref": MODEL_REF, "kind": "classical", "features": setting["features"]["kind"],
                  "classifier": setting["classifier"]["kind"], "fields": fields, "train_sha256": train_info["sha256"]},
        "eval_set": {"path": rel(set_path), "sha256": sha256_file(set_path), "rows": len(rows) + len(rejected)},
        "task_type": r.task_type, "primary_metric": primary,
        "n": len(examples), "n_failed_generations": 0,
        "metrics": metrics,
        "latency_s": {**stats.percentiles(lat), "mean": (sum(lat) / len(lat)) if lat else None, "n_timed": len(lat)},
        "tokens_per_s": None,
        "cost_per_request_usd": sum(costs) / len(costs),
        "cost_per_1k_requests_usd": 1000 * sum(costs) / len(costs),
        "failure_buckets": failure_buckets(examples),
        "rejected": rejected,
        "examples": examples,
        "provenance": {"params": p.model_dump(mode="json"), "resolved": r.model_dump(mode="json"),
                       "system_prompt_sha256": None,
                       "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                       "decoding": "no generation: each field is the classifier's most probable class",
                       **setting, "train_set": train_info, "fields": reports,
                       "fields_not_predicted": not_predicted,
                       "train_seconds": model.train_seconds, "train_cpu_seconds": model.train_cpu_seconds,
                       "predict_seconds": predict_seconds, "predict_cpu_seconds": predict_cpu,
                       "bootstrap_resamples": p.bootstrap_resamples, "seed": p.seed},
    }
    out_path = resolve_path(p.output or f"evals/classical-{_slug(train_path.stem)}-{_slug(set_path.stem)}.json",
                            arg="output", for_write=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(doc, indent=1, default=str))
    from specialize.runtime.registry import record_run

    record_run({"kind": "eval", "model": MODEL_REF, "train_path": rel(train_path), "train_sha256": train_info["sha256"],
                "eval_set": rel(set_path), "eval_set_sha256": doc["eval_set"]["sha256"], "results": rel(out_path),
                "n": len(examples), "primary_metric": primary, "value": metrics.get(primary)})
    from specialize.runtime import tracking

    tracking.log_run("run_classical_baseline", name=f"tfidf-logreg on {set_path.stem}",
                     params=p.model_dump(mode="json"),
                     result={k: doc[k] for k in ("primary_metric", "n", "n_failed_generations", "metrics",
                                                 "latency_s") if k in doc},
                     datasets={"eval_set": doc["eval_set"]["sha256"], "train": train_info["sha256"]},
                     artifacts={"results": rel(out_path)})
    doc["_path"] = str(out_path)
    return doc, {"field_accuracy": field_acc, "train": train_info, "fields": reports, "not_predicted": not_predicted,
                 "train_seconds": model.train_seconds, "train_cpu_seconds": model.train_cpu_seconds,
                 "predict_seconds": predict_seconds, "predict_cpu_seconds": predict_cpu}


@tool()
def run_classical_baseline(params: RunClassicalBaselineParams, *, progress=None) -> RunClassicalBaselineResult:
    """Train a TF-IDF + logistic-regression classifier on the training rows and score it on an eval set.

    One classifier per categorical field of the task's JSON schema (enum strings, booleans, and nullable
    strings such as a product name, with null as its own class); the input is the text of the user turn(s).
    Features: word 1-2-grams and character 2-5-grams (TF-IDF). The results file has run_eval's format and
    metrics (with bootstrap CIs), so compare_models, release_gate and the demo report treat it as one more
    model: the baseline that shows whether a fine-tune is worth more than a classifier that costs nothing to
    run. Training rows that cannot be used are listed with the reason; a field with one class in training
    predicts that class and says so.
    """
    doc, extra = build_results(params, progress)
    head: RunEvalResult = _summary(doc)
    return RunClassicalBaselineResult(
        results_path=head.results_path or rel(Path(doc["_path"])), model=head.model, n=head.n,
        rejected=head.rejected, primary_metric=head.primary_metric, metrics=head.metrics,
        field_accuracy=extra["field_accuracy"], latency_s=head.latency_s,
        cost_per_1k_requests_usd=head.cost_per_1k_requests_usd, top_failure_buckets=head.top_failure_buckets,
        train_rows=extra["train"]["rows"], train_used=extra["train"]["used"], train_skipped=extra["train"]["skipped"],
        fields=[FieldReport(field=f["field"], classes=[c if not isinstance(c, (dict, list)) else json.dumps(c)
                                                       for c in f["classes"]], train_rows=f["train_rows"],
                            rows_left_out=f["rows_left_out"], constant=f["constant"], note=f["note"])
                for f in extra["fields"]],
        fields_not_predicted=extra["not_predicted"], train_seconds=extra["train_seconds"],
        train_cpu_seconds=extra["train_cpu_seconds"], predict_seconds=extra["predict_seconds"],
        predict_cpu_seconds=extra["predict_cpu_seconds"])


__all__ = ["run_classical_baseline", "RunClassicalBaselineParams", "RunClassicalBaselineResult", "MODEL_REF"]
