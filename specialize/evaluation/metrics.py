"""Scoring one model's predictions against references, per task type, with per-example error labels.

Task types: ``classification`` (a label, either the whole answer or ``label_field`` of a JSON answer),
``extraction`` (a JSON record: exact match, field-level precision/recall/F1, critical fields), ``json``
(parse rate, schema pass rate, exact key match) and ``tool_call`` (``{"name", "arguments"}``). Extraction
and JSON answers also get classification metrics for ``label_field`` when one is named.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any, Callable

import numpy as np

from specialize.evaluation import stats

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def parse_json(text: str) -> tuple[Any, str | None]:
    """Parse a model's JSON answer, tolerating a code fence or text around one object."""
    s = text.strip()
    m = _FENCE.search(s)
    if m:
        s = m.group(1).strip()
    try:
        return json.loads(s), None
    except json.JSONDecodeError:
        pass
    start, end = s.find("{"), s.rfind("}")
    if start != -1 and end > start:
        try:
            return json.loads(s[start:end + 1]), None
        except json.JSONDecodeError as exc:
            return None, f"invalid JSON: {exc.msg}"
    return None, "no JSON object in the answer"


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return " ".join(v.strip().lower().split())
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x) for x in v]
    return v


def _tool(obj: Any) -> tuple[str | None, dict[str, Any]]:
    if not isinstance(obj, dict):
        return None, {}
    if "tool_calls" in obj and obj["tool_calls"]:
        obj = obj["tool_calls"][0]
    if "function" in obj and isinstance(obj["function"], dict):
        obj = obj["function"]
    name = obj.get("name") or obj.get("tool")
    args = obj.get("arguments", obj.get("args", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            args = {"__raw__": args}
    return name, args if isinstance(args, dict) else {}


def check_label_field(rows: list[dict[str, Any]], label_field: str | None) -> None:
    """Refuse a ``label_field`` that some references do not hold.

    A reference without the field would be scored as label ``None``, and a model that leaves the field out
    too would match it: a missing field scored accuracy 1.0. So every reference must be a JSON object with that
    member (``null`` counts as a value), checked before any answer is generated.
    """
    if not label_field:
        return
    missing: list[str] = []
    keys: Counter[str] = Counter()
    for row in rows:
        ref, _ = parse_json(str(row.get("reference", "")))
        if isinstance(ref, dict):
            keys.update(ref.keys())
        if not isinstance(ref, dict) or label_field not in ref:
            missing.append(str(row.get("id")))
    if not missing:
        return
    from specialize.runtime.errors import InvalidInput

    seen = ", ".join(repr(k) for k, _ in keys.most_common(8)) or "none: the references are not JSON objects"
    which = "none of the" if len(missing) == len(rows) else f"{len(missing)} of the {len(rows)}"
    raise InvalidInput(
        f"Argument 'label_field' ({label_field!r}): {which} eval references hold that field (e.g. ids "
        f"{', '.join(missing[:5])}); scoring would compare missing labels and count them as right. Fields the "
        f"references have: {seen}.",
        fix="Name the field that holds the class label, fix the rows that lack it, or leave label_field out "
            "for a plain-text label.")


def score_example(task_type: str, pred_text: str | None, ref_text: str, *, label_field: str | None,
                  critical_fields: list[str], validator: Any = None) -> dict[str, Any]:
    """Per-example scores and the error type of the first thing that went wrong (None when correct)."""
    rec: dict[str, Any] = {}
    if pred_text is None:
        # a failed generation is an error in the item's true class, not a class of its own
        rec = {"error_type": "generation_error", "correct": False, "parsed": False}
        if task_type == "classification" and not label_field:
            rec.update(ref_label=_norm(ref_text), pred_label="__error__")
        elif label_field:
            ref, _ = parse_json(ref_text)
            rec.update(ref_label=_norm(ref.get(label_field)) if isinstance(ref, dict) else None,
                       pred_label="__error__")
        return rec
    if task_type == "classification" and not label_field:
        pred_label, ref_label = _norm(pred_text), _norm(ref_text)
        rec.update(pred_label=pred_label, ref_label=ref_label, parsed=True)
        rec["correct"] = pred_label == ref_label
        rec["error_type"] = None if rec["correct"] else "wrong_label"
        return rec
    pred, perr = parse_json(pred_text)
    ref, _ = parse_json(ref_text)
    rec["parsed"] = perr is None
    rec["prediction_json"] = pred
    if validator is not None:
        rec["schema_valid"] = perr is None and not any(True for _ in validator.iter_errors(pred))
    if task_type == "tool_call":
        pn, pa = _tool(pred)
        rn, ra = _tool(ref)
        rec["tool_name_ok"] = perr is None and pn == rn
        rec["args_ok"] = rec["tool_name_ok"] and _norm(pa) == _norm(ra)
        rec["arg_fields"] = {k: rec["tool_name_ok"] and _norm(pa.get(k)) == _norm(v) for k, v in ra.items()}
        rec["correct"] = rec["args_ok"]
        rec["error_type"] = ("parse_error" if perr else "wrong_tool" if not rec["tool_name_ok"]
                             else "wrong_arguments" if not rec["args_ok"] else None)
        return rec
    pd = pred if isinstance(pred, dict) else {}
    rd = ref if isinstance(ref, dict) else {}
    if label_field:
        rec["ref_label"] = _norm(rd.get(label_field))
        rec["pred_label"] = _norm(pd.get(label_field)) if perr is None else "__unparsed__"
    fields = {}
    for k in set(rd) | set(pd):
        fields[k] = _norm(pd.get(k)) == _norm(rd.get(k))
    rec["fields"] = fields
    rec["tp"] = sum(1 for k, ok in fields.items() if ok and rd.get(k) is not None)
    rec["fp"] = sum(1 for k, ok in fields.items() if not ok and pd.get(k) is not None)
    rec["fn"] = sum(1 for k, ok in fields.items() if not ok and rd.get(k) is not None)
    rec["exact_match"] = perr is None and _norm(pd) == _norm(rd)
    rec["key_match"] = perr is None and set(pd) == set(rd)
    rec["critical_ok"] = perr is None and all(fields.get(k, False) for k in critical_fields)
    rec["field_match"] = 0.0 if perr else (sum(fields.values()) / len(fields) if fields else 1.0)
    if task_type == "classification":
        rec["correct"] = rec.get("pred_label") == rec.get("ref_label")
    elif task_type == "json":
        rec["correct"] = rec["parsed"] and rec.get("schema_valid", True) and rec["key_match"]
    else:
        rec["correct"] = rec["exact_match"]
    if perr:
        rec["error_type"] = "parse_error"
    elif validator is not None and not rec["schema_valid"]:
        rec["error_type"] = "schema_error"
    elif label_field and rec["pred_label"] != rec["ref_label"]:
        rec["error_type"] = f"wrong_{label_field}"
    elif not rec["correct"] or not rec["exact_match"]:
        bad = sorted(k for k, ok in fields.items() if not ok)
        crit = [k for k in bad if k in critical_fields]
        rec["error_type"] = f"wrong_{(crit or bad or ['answer'])[0]}"
    else:
        rec["error_type"] = None
    return rec


def _macro_f1(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Macro-F1 for each row of (resamples x items) label-index arrays, over the reference classes."""
    y_true = np.atleast_2d(y_true)
    y_pred = np.atleast_2d(y_pred)
    out = np.zeros(len(y_true))
    for r in range(len(y_true)):
        cm = np.bincount(y_true[r] * (k + 1) + y_pred[r], minlength=(k + 1) * (k + 1)).reshape(k + 1, k + 1)
        tp = np.diag(cm)[:k].astype(float)
        pred_n = cm[:, :k].sum(axis=0)
        true_n = cm[:k, :].sum(axis=1)
        present = true_n > 0
        f1 = np.where(pred_n + true_n > 0, 2 * tp / np.maximum(pred_n + true_n, 1), 0.0)
        out[r] = f1[present].mean() if present.any() else 0.0
    return out


def classification_metrics(ref: list[Any], pred: list[Any], *, n_resamples: int, seed: int) -> dict[str, Any]:
    labels = sorted({str(x) for x in ref}, key=str)
    extra = sorted({str(x) for x in pred} - set(labels))
    index = {lab: i for i, lab in enumerate(labels)}
    k = len(labels)
    yt = np.array([index[str(x)] for x in ref])
    yp = np.array([index.get(str(x), k) for x in pred])  # k = "some other label"
    per_class = {}
    for lab, i in index.items():
        tp = int(((yt == i) & (yp == i)).sum())
        p_n, t_n = int((yp == i).sum()), int((yt == i).sum())
        prec = tp / p_n if p_n else 0.0
        rec = tp / t_n if t_n else 0.0
        per_class[lab] = {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
                          "support": t_n}
    all_labels = labels + extra
    full_index = {lab: i for i, lab in enumerate(all_labels)}
    cm = np.zeros((len(all_labels), len(all_labels)), dtype=int)
    for t, p in zip(ref, pred):
        cm[full_index[str(t)], full_index[str(p)]] += 1
    acc = stats.bootstrap_ci((yt == yp).astype(float), n_resamples=n_resamples, seed=seed)
    f1 = stats.bootstrap_ci(np.arange(len(yt)), n_resamples=n_resamples, seed=seed,
                            statistic=lambda idx: _macro_f1(yt[idx.astype(int)], yp[idx.astype(int)], k))
    return {"accuracy": acc["estimate"], "accuracy_ci": [acc["low"], acc["high"]],
            "macro_f1": f1["estimate"], "macro_f1_ci": [f1["low"], f1["high"]],
            "per_class": per_class,
            "confusion_matrix": {"labels": all_labels, "rows_are": "reference", "matrix": cm.tolist()}}


def _rate(flags: list[bool] | list[float]) -> dict[str, Any]:
    """Mean with its 95% interval: Clopper-Pearson for pass/fail items, the percentile bootstrap for graded ones
    (a share of fields right, say), whose sum is not a count of successes."""
    if all(float(f) in (0.0, 1.0) for f in flags):
        ci = stats.proportion_ci(int(sum(flags)), len(flags))
        return {"value": ci["estimate"], "ci": [ci["low"], ci["high"]], "method": ci["method"]}
    ci = stats.bootstrap_ci([float(f) for f in flags])
    return {"value": float(np.mean([float(f) for f in flags])), "ci": [ci["low"], ci["high"]],
            "method": stats.PERCENTILE}


def aggregate(task_type: str, recs: list[dict[str, Any]], *, label_field: str | None, critical_fields: list[str],
              n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Task metrics over scored examples, each with a 95% CI under ``<name>_ci``.

    Pass/fail rates get the Clopper-Pearson interval, macro-F1 the percentile bootstrap; ``ci_methods`` names
    the method per metric and ``stats_warnings`` carries the small-sample warning.
    """
    out: dict[str, Any] = {}
    methods: dict[str, str] = {}

    def put(name: str, flags: list[bool] | list[float]) -> None:
        if flags:
            r = _rate(flags)
            out[name], out[f"{name}_ci"] = r["value"], r["ci"]
            methods[name] = r["method"]

    if not recs:
        return out
    put("correct_rate", [bool(r.get("correct")) for r in recs])
    if task_type == "classification" or label_field:
        ref = [r.get("ref_label") for r in recs]
        pred = [r.get("pred_label", "__error__") for r in recs]
        out.update(classification_metrics(ref, pred, n_resamples=n_resamples, seed=seed))
        methods.update(accuracy=stats.CLOPPER_PEARSON, macro_f1=stats.PERCENTILE)
    if task_type != "classification" or label_field:
        put("parse_rate", [bool(r.get("parsed")) for r in recs])
        if any("schema_valid" in r for r in recs):
            put("schema_pass_rate", [bool(r.get("schema_valid")) for r in recs])
    if task_type in ("extraction", "json"):
        put("exact_match", [bool(r.get("exact_match")) for r in recs])
        put("exact_key_match", [bool(r.get("key_match")) for r in recs])
    if task_type == "extraction":
        tp = sum(r.get("tp", 0) for r in recs)
        fp = sum(r.get("fp", 0) for r in recs)
        fn = sum(r.get("fn", 0) for r in recs)
        p = tp / (tp + fp) if tp + fp else 0.0
        rc = tp / (tp + fn) if tp + fn else 0.0
        out.update(field_precision=p, field_recall=rc, field_f1=2 * p * rc / (p + rc) if p + rc else 0.0)
        per_field: dict[str, list[bool]] = defaultdict(list)
        for r in recs:
            for k, ok in (r.get("fields") or {}).items():
                per_field[k].append(ok)
        out["field_accuracy"] = {k: float(np.mean(v)) for k, v in sorted(per_field.items())}
        put("field_match", [float(r.get("field_match", 0.0)) for r in recs])
        if critical_fields:
            put("critical_field_accuracy", [bool(r.get("critical_ok")) for r in recs])
    if task_type == "tool_call":
        put("tool_name_accuracy", [bool(r.get("tool_name_ok")) for r in recs])
        put("argument_accuracy", [bool(r.get("args_ok")) for r in recs])
        put("parse_rate", [bool(r.get("parsed")) for r in recs])
    out["error_types"] = dict(Counter(r.get("error_type") or "none" for r in recs))
    out["ci_methods"] = methods
    out["stats_warnings"] = stats.small_n_warning(len(recs))
    return out


# The per-item value behind each rate, for paired comparisons of two models on the same items.
PER_ITEM: dict[str, Callable[[dict[str, Any]], float]] = {
    "correct_rate": lambda r: float(bool(r.get("correct"))),
    "accuracy": lambda r: float("ref_label" in r and r.get("pred_label") == r.get("ref_label")),
    "parse_rate": lambda r: float(bool(r.get("parsed"))),
    "schema_pass_rate": lambda r: float(bool(r.get("schema_valid"))),
    "exact_match": lambda r: float(bool(r.get("exact_match"))),
    "exact_key_match": lambda r: float(bool(r.get("key_match"))),
    "field_match": lambda r: float(r.get("field_match") or 0.0),
    "critical_field_accuracy": lambda r: float(bool(r.get("critical_ok"))),
    "tool_name_accuracy": lambda r: float(bool(r.get("tool_name_ok"))),
    "argument_accuracy": lambda r: float(bool(r.get("args_ok"))),
}
GRADED = {"field_match"}  # per-item values between 0 and 1; every other per-item metric is 0 or 1


def item_values(metric: str, recs: list[dict[str, Any]]) -> list[float]:
    """Each item's value of a per-item metric (see ``PER_ITEM``), in the order of ``recs``."""
    if metric not in PER_ITEM:
        raise KeyError(f"{metric} has no per-item value; choose one of {sorted(PER_ITEM)}")
    return [PER_ITEM[metric](r) for r in recs]


PRIMARY = {"classification": "accuracy", "extraction": "critical_field_accuracy", "json": "schema_pass_rate",
           "tool_call": "argument_accuracy"}


def length_bucket(chars: int) -> str:
    for edge in (200, 500, 1000, 2000, 4000):
        if chars < edge:
            return f"<{edge} chars"
    return ">=4000 chars"


def failure_buckets(examples: list[dict[str, Any]], max_ids: int = 5) -> dict[str, Any]:
    """Failure counts by category, input-length bucket, error type and other short meta fields."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for ex in examples:
        meta = ex.get("meta") or {}
        groups["category"][str(meta.get("category", ex.get("ref_label", "unknown")))].append(ex)
        groups["input_length"][ex["length_bucket"]].append(ex)
        groups["error_type"][ex.get("error_type") or "none"].append(ex)
        for key, val in meta.items():
            if key != "category" and isinstance(val, (str, bool, int)) and len(str(val)) <= 40:
                groups[key][str(val)].append(ex)
    out: dict[str, Any] = {}
    for dim, buckets in groups.items():
        if len(buckets) > 30 and dim not in ("category", "error_type", "input_length"):
            continue  # a free-text field, not a grouping
        rows = []
        for name, exs in buckets.items():
            bad = [e for e in exs if not e.get("correct")]
            rows.append({"bucket": name, "n": len(exs), "failures": len(bad),
                         "failure_rate": len(bad) / len(exs), "example_ids": [e["id"] for e in bad[:max_ids]]})
        out[dim] = sorted(rows, key=lambda r: (-r["failures"], r["bucket"]))
    return out
