"""The optional LLM row review for validate_rows: the 7-dimension rubric and its acceptance rule.

The prompt is ``references/prompts/review_row.j2``, the rubric ``references/rubrics/row_rubric.yaml``; calls go
through ``LLMClient`` (same cache and retries as generation). A verdict that cannot be parsed, or a call that
fails after retries, rejects the row with its own reason code, so nothing is silently accepted or dropped.
"""

from __future__ import annotations

import hashlib
from typing import Any

from specialize.runtime.workspace import resolve_path

RUBRIC = "builtin:rubrics/row_rubric.yaml"
TEMPLATE = "builtin:prompts/review_row.j2"


def load_rubric() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(resolve_path(RUBRIC, arg="rubric", must_exist=True).read_text())


def decide(scores: dict[str, Any], rubric: dict[str, Any]) -> tuple[bool, str]:
    """Apply the acceptance rule to judge scores; ``(accepted, why)``."""
    names = [d["name"] for d in rubric["dimensions"]]
    try:
        vals = {n: int(scores[n]) for n in names}
    except (KeyError, TypeError, ValueError):
        return False, "missing_scores"
    rule = rubric["accept"]
    total = sum(vals.values())
    if total < rule["min_total"]:
        return False, f"total {total} < {rule['min_total']}"
    for name, low in rule.get("min", {}).items():
        if vals[name] < low:
            return False, f"{name} {vals[name]} < {low}"
    for name, want in rule.get("exact", {}).items():
        if vals[name] != want:
            return False, f"{name} {vals[name]} != {want}"
    return True, f"total {total}"


def review_rows(params: Any, rows: list[str], progress: Any = None) -> list[tuple[str, str, dict[str, Any]] | None]:
    """One verdict per row: None to keep it, or ``(gate, reason, details)`` to reject it."""
    import jinja2

    from specialize.llm.client import ChatRequest, LLMClient
    from specialize.llm.textjson import first_object
    from specialize.runtime.errors import UpstreamError

    rubric = load_rubric()
    tpl_text = resolve_path(TEMPLATE, arg="judge_template", must_exist=True).read_text()
    tpl_sha = hashlib.sha256(tpl_text.encode()).hexdigest()[:12]
    template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(tpl_text)
    contract = "JSON matching the schema " + params.schema_path if params.schema_path else "as shown in the row"
    reqs = [ChatRequest(model=params.judge_model, temperature=0.0, max_tokens=400, messages=[{
        "role": "user", "content": template.render(task_description=params.task_description or "(not given)",
                                                   output_contract=contract, row=row,
                                                   dimensions=rubric["dimensions"])}]) for row in rows]
    client = LLMClient(api_base=params.judge_api_base, concurrency=params.judge_concurrency)
    out: list[tuple[str, str, dict[str, Any]] | None] = []
    for res in client.chat_many(reqs):
        if isinstance(res, UpstreamError):
            out.append(("judge", "judge_error", {"error": str(res)[:300]}))
            continue
        verdict = first_object(res.text)
        if not verdict or not isinstance(verdict.get("scores"), dict):
            out.append(("judge", "judge_unparsable", {"raw": res.text[:300]}))
            continue
        ok, why = decide(verdict["scores"], rubric)
        details = {"scores": verdict["scores"], "why": why, "judge_reason": str(verdict.get("reason", ""))[:300],
                   "judge": params.judge_model, "template_sha256": tpl_sha}
        out.append(None if ok else ("judge", "judge_reject", details))
    return out
