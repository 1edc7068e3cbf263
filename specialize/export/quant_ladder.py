"""The quant ladder: re-evaluate every exported file on the golden set and pick the smallest one that holds.

Each model (the merged Hugging Face model, then every GGUF file) answers through the backends ``run_eval``
uses (``specialize.evaluation.models``) and is scored by ``run_eval``'s scorer (``score_example`` and
``aggregate`` in ``specialize.evaluation.metrics``), so the ladder reports the same metric names with the
same bootstrap intervals as a ``run_eval`` results file. By default each model runs in its own subprocess
(``python -m specialize.export.quant_ladder``) so that load time, tokens/s and peak memory are those of that
model alone; ``in_process=True`` skips the subprocess and reports no memory figure. Paired statistics
compare each file with the merged model on the same items: McNemar's exact test for a right/wrong metric,
Wilcoxon's signed-rank test for a graded one, and a paired bootstrap interval for the difference.
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from specialize.runtime.errors import InvalidInput, UpstreamError

_LOOP = re.compile(r"(.{2,40}?)\1{4,}", re.S)  # a 2-40 character unit repeated 5+ times in a row


# -- golden rows and scoring ---------------------------------------------------------------------------------
def load_golden(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows in chat format whose last message is the reference answer; returns (accepted, rejected+reason)."""
    accepted, rejected = [], []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            msgs = row["messages"]
            if not msgs or msgs[-1]["role"] != "assistant" or not isinstance(msgs[-1]["content"], str):
                raise ValueError("the last message must be the assistant's reference answer")
            if not any(m["role"] == "user" for m in msgs[:-1]):
                raise ValueError("no user message before the reference")
            accepted.append({"line": n, "messages": msgs, "meta": row.get("meta") or {}})
        except (ValueError, KeyError, TypeError) as exc:
            rejected.append({"line": n, "reason": str(exc)})
    if not accepted:
        raise InvalidInput(f"No usable golden rows in {path} ({len(rejected)} rejected).",
                           fix='Each line: {"messages": [..., {"role": "assistant", "content": REFERENCE}]}.')
    return accepted, rejected


def _json_obj(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def task_type_for(rows: list[dict[str, Any]]) -> str:
    """run_eval's task type for a golden set: extraction when every reference is a JSON object, else
    classification (the whole answer must equal the reference, up to case and spacing)."""
    refs = [_json_obj(r["messages"][-1]["content"]) for r in rows]
    return "extraction" if refs and all(r is not None for r in refs) else "classification"


def ladder_metric(task_type: str, requested: str = "auto") -> str:
    """The run_eval metric that decides the ladder, from export_gguf's ``primary_metric`` choice.

    ``exact`` is exact_match for JSON references and accuracy (whole answer right) otherwise; ``json_field``
    is field_match (the mean share of fields right), which needs JSON references; ``auto`` picks field_match
    for JSON references and accuracy otherwise."""
    if task_type == "extraction":
        return "exact_match" if requested == "exact" else "field_match"
    if requested == "json_field":
        raise InvalidInput("primary_metric json_field needs every golden reference to be a JSON object.",
                           fix="Use primary_metric exact (or auto), or a golden set of JSON answers.")
    return "accuracy"


def score_outputs(task_type: str, rows: list[dict[str, Any]], outputs: list[dict[str, Any]], *,
                  n_resamples: int = 1000, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Score one model's answers with run_eval's scorer: per-item records and the headline metrics with CIs.

    ``outputs`` holds one ``{"text", "stopped", "tokens"}`` per row (``text`` None when generation failed)."""
    from specialize.evaluation.metrics import aggregate, score_example

    items = []
    for row, o in zip(rows, outputs):
        rec = score_example(task_type, o["text"], row["messages"][-1]["content"], label_field=None,
                            critical_fields=[])
        rec.pop("prediction_json", None)
        items.append({**rec, "output": o["text"], "stopped": o["stopped"], "tokens": o["tokens"],
                      "runaway": o["text"] is None or is_runaway(o["text"], o["stopped"]),
                      **({"error": o["error"]} if o.get("error") else {})})
    metrics = aggregate(task_type, items, label_field=None, critical_fields=[], n_resamples=n_resamples, seed=seed)
    headline = {k: v for k, v in metrics.items() if not isinstance(v, dict) and k != "error_types"}
    return items, headline


def is_runaway(text: str, stopped: bool) -> bool:
    return (not stopped) or bool(_LOOP.search(text))


# -- evaluating one model (runs in a subprocess) -------------------------------------------------------------
def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss it is not inherited across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def generate_rows(kind: str, path: str, rows: list[dict[str, Any]], max_new_tokens: int,
                  n_ctx: int = 2048) -> dict[str, Any]:
    """Load one model with run_eval's backend for it and answer every row greedily; answers and timings."""
    from specialize.evaluation.models import GGUFModel, TransformersModel

    t0 = time.perf_counter()
    if kind == "gguf":
        model: Any = GGUFModel(path, path=Path(path), n_ctx=n_ctx)
        size = Path(path).stat().st_size
    else:  # the merged reference stays on the CPU, where the GGUF files run too
        model = TransformersModel(path, device="cpu")
        size = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
    load_s = time.perf_counter() - t0
    gens = model.generate_many([r["messages"][:-1] for r in rows], max_tokens=max_new_tokens, temperature=0.0)
    outputs = []
    for g in gens:
        if isinstance(g, Exception):
            outputs.append({"text": None, "stopped": False, "tokens": 0, "latency_s": 0.0, "error": str(g)})
        else:
            outputs.append({"text": g.text, "stopped": g.finish_reason == "stop", "tokens": g.completion_tokens,
                            "latency_s": g.latency_s})
    # as in run_eval, the first answer (which pays one-off start-up work) is left out of the speed figures
    timed = outputs[1:] if len(outputs) > 1 else outputs
    return {"outputs": outputs, "load_s": load_s, "gen_s": sum(o["latency_s"] for o in timed),
            "timed_items": len(timed), "tokens": sum(o["tokens"] for o in timed), "file_bytes": size}


def evaluate_rows(kind: str, model_path: Path, rows: list[dict[str, Any]], *, max_new_tokens: int = 128,
                  task_type: str | None = None, in_process: bool = False, n_resamples: int = 1000, seed: int = 0,
                  timeout: float = 3600) -> dict[str, Any]:
    """Answer ``rows`` with one model (in a fresh process unless ``in_process``), score the answers like
    run_eval, and add speed, memory and stop-at-EOS figures."""
    import tempfile

    if in_process:
        raw = generate_rows(kind, str(model_path), rows, max_new_tokens)
        raw["peak_rss_mb"] = None  # this process holds more than the model: no honest figure
    else:
        with tempfile.TemporaryDirectory() as tmp:
            inp, out = Path(tmp) / "rows.json", Path(tmp) / "out.json"
            inp.write_text(json.dumps(rows))
            proc = subprocess.run([sys.executable, "-m", "specialize.export.quant_ladder", kind, str(model_path),
                                   str(inp), str(out), str(max_new_tokens)], capture_output=True, text=True,
                                  timeout=timeout)
            if proc.returncode != 0 or not out.is_file():
                tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
                raise UpstreamError(f"Evaluating {model_path} ({kind}) failed:\n{tail}",
                                    fix="Load the file by hand with the same runtime to see the full error.")
            raw = json.loads(out.read_text())
    task_type = task_type or task_type_for(rows)
    items, metrics = score_outputs(task_type, rows, raw["outputs"], n_resamples=n_resamples, seed=seed)
    return {"task_type": task_type, "items": items, "metrics": metrics, "load_s": round(raw["load_s"], 3),
            "tokens_per_s": round(raw["tokens"] / raw["gen_s"], 1) if raw["gen_s"] else None,
            "seconds_per_item": round(raw["gen_s"] / max(1, raw["timed_items"]), 4),
            "peak_rss_mb": raw["peak_rss_mb"], "file_bytes": raw["file_bytes"],
            "stopped_share": round(sum(i["stopped"] for i in items) / len(items), 4),
            "runaways": sum(i["runaway"] for i in items)}


# -- paired statistics and the recommendation ----------------------------------------------------------------
def score_points(metrics: dict[str, Any], metric: str) -> dict[str, float | None]:
    """A headline metric and its bootstrap interval, in points (0-100), for the ladder table and the card."""
    value, ci = metrics.get(metric), metrics.get(f"{metric}_ci") or [None, None]
    pts = lambda x: None if x is None else round(100 * x, 2)  # noqa: E731
    return {"mean": pts(value), "ci_low": pts(ci[0] if ci[0] is not None else value),
            "ci_high": pts(ci[1] if ci[1] is not None else value)}


def paired_compare(reference: list[float], candidate: list[float], metric: str, seed: int = 0) -> dict[str, Any]:
    """candidate minus reference, in points (0-100), with a paired test and a paired bootstrap interval."""
    import numpy as np
    from scipy import stats

    from specialize.evaluation.metrics import GRADED

    ref, cand = np.asarray(reference, float), np.asarray(candidate, float)
    diff = (cand - ref) * 100
    out: dict[str, Any] = {"delta": round(float(diff.mean()), 2), "n": int(len(diff))}
    if metric not in GRADED:
        worse = int(((ref == 1) & (cand == 0)).sum())
        better = int(((ref == 0) & (cand == 1)).sum())
        out.update(test="mcnemar_exact", worse=worse, better=better,
                   p_value=float(stats.binomtest(better, worse + better, 0.5).pvalue) if worse + better else 1.0)
    else:
        nz = diff[diff != 0]
        out.update(test="wilcoxon", worse=int((diff < 0).sum()), better=int((diff > 0).sum()),
                   p_value=float(stats.wilcoxon(nz).pvalue) if len(nz) >= 1 else 1.0)
    if len(diff) >= 2 and not np.all(diff == diff[0]):
        ci = stats.bootstrap((diff,), np.mean, n_resamples=2000, method="percentile",
                             random_state=seed).confidence_interval
        out.update(ci_low=round(float(ci.low), 2), ci_high=round(float(ci.high), 2))
    else:
        out.update(ci_low=out["delta"], ci_high=out["delta"])
    out["p_value"] = round(out["p_value"], 5)
    return out


def recommend(reference: dict[str, Any], files: dict[str, dict[str, Any]], metric: str, *,
              tolerance: float = 1.0, alpha: float = 0.05) -> dict[str, Any]:
    """Mark each file within tolerance or not; recommend the smallest that is, and passes its checks.

    ``metric`` is a run_eval per-item metric (``specialize.evaluation.metrics.PER_ITEM``)."""
    from specialize.evaluation.metrics import item_values

    ref_scores = item_values(metric, reference["items"])
    chosen, why = None, []
    for name, res in sorted(files.items(), key=lambda kv: kv[1]["file_bytes"]):
        cand = item_values(metric, res["items"])
        cmp = paired_compare(ref_scores, cand, metric)
        drop = -cmp["delta"]
        significant = cmp["p_value"] < alpha and drop > 0
        reasons = []
        if drop > tolerance:
            reasons.append(f"{metric} {drop:.2f} points below the merged model (tolerance {tolerance})")
        if significant:
            reasons.append(f"the drop is significant (p={cmp['p_value']})")
        if res["runaways"]:
            reasons.append(f"{res['runaways']} answer(s) did not stop at EOS or looped")
        res["comparison"] = cmp
        res["within_tolerance"] = not reasons
        res["rejected_because"] = reasons
        if chosen is None and not reasons:
            chosen = name
        why.append(f"{name}: " + ("ok" if not reasons else "; ".join(reasons)))
    return {"recommended": chosen, "metric": metric, "tolerance_points": tolerance, "alpha": alpha,
            "reasons": why}


def _main(argv: list[str]) -> None:
    from specialize.runtime.procs import die_with_parent

    die_with_parent()  # the measuring child ends with the export that waits for it
    kind, model, rows_path, out_path, max_new = argv
    rows = json.loads(Path(rows_path).read_text())
    res = generate_rows(kind, model, rows, int(max_new))
    res["peak_rss_mb"] = _peak_rss_mb()
    Path(out_path).write_text(json.dumps(res))


if __name__ == "__main__":
    _main(sys.argv[1:])
