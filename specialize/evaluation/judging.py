"""The pairwise LLM-as-judge protocol: rubric data, prompt rendering, parsing, the swapped-position runs.

Every pair of responses is judged twice, once in each order. Both calls are mapped to the first model's
point of view; when the two disagree the item counts as a tie, and the share of items where they agree is
the position-consistency rate. A judge answer that is not valid JSON with every score and a known verdict is
asked again (the bad answer and a correction are appended, so the retry is a new request and not a cache
hit); after ``retries`` it is recorded as a judge failure, which counts as a tie and is reported. Every answer's raw
text is kept in its record. ``verdict_response_format`` asks a local llama.cpp judge for output constrained to
the verdict schema (so a small judge cannot wander off the format) and a hosted one for JSON-schema or
JSON-object mode, whichever litellm says it supports.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any, Callable

import yaml

from specialize.evaluation import stats
from specialize.evaluation.metrics import parse_json
from specialize.runtime.errors import InvalidInput
from specialize.runtime.workspace import references_root, resolve_path

VERDICTS = ("A_better", "B_better", "tie", "both_bad")
TEMPLATE = "prompts/pairwise_judge.j2"
BUILTIN_RUBRICS = ("general", "code", "customer_support", "summarization")


def load_rubric(ref: str) -> dict[str, Any]:
    """A bundled rubric by name (general, code, customer_support, summarization) or a user YAML by path."""
    name = ref.replace("-", "_")
    if name in BUILTIN_RUBRICS:
        path = references_root() / "rubrics" / f"{name}.yaml"
    else:
        path = resolve_path(ref, arg="rubric", must_exist=True)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    dims = data.get("dimensions") if isinstance(data, dict) else None
    if not dims or not all(isinstance(d, dict) and d.get("name") for d in dims):
        raise InvalidInput(f"Rubric {ref} has no list of named dimensions.",
                           fix="Give 'dimensions: [{name, weight, anchors: {1: ..., 5: ...}}]'.")
    weights = [float(d.get("weight", 1.0 / len(dims))) for d in dims]
    if abs(sum(weights) - 1.0) > 1e-6:
        raise InvalidInput(f"Rubric {ref}: weights sum to {sum(weights):.3f}, not 1.",
                           fix="Make the dimension weights add up to 1.0.")
    for d, w in zip(dims, weights):
        d["weight"] = w
        d.setdefault("anchors", {})
    data["_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    data["_path"] = str(path)
    return data


def composite(scores: dict[str, float], rubric: dict[str, Any]) -> float:
    return round(sum(float(scores[d["name"]]) * d["weight"] for d in rubric["dimensions"]), 4)


@functools.lru_cache(maxsize=1)
def template_text() -> str:
    return (references_root() / TEMPLATE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _compiled(text: str) -> Any:
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return env.from_string(text)


def render(prompt: str, a: str, b: str, rubric: dict[str, Any], task: str | None) -> str:
    return _compiled(template_text()).render(prompt=prompt, response_a=a, response_b=b, rubric=rubric,
                                             task=task or "")


def parse_judgment(text: str, rubric: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    obj, err = parse_json(text)
    if err:
        return None, err
    if not isinstance(obj, dict):
        return None, "the answer is not a JSON object"
    verdict = str(obj.get("verdict", "")).strip()
    match = {v.lower(): v for v in VERDICTS}.get(verdict.lower().replace(" ", "_"))
    if match is None:
        return None, f"unknown verdict {verdict!r}"
    out = {"verdict": match, "reasoning": str(obj.get("reasoning", ""))[:1000]}
    for side in ("a_scores", "b_scores"):
        sc = obj.get(side)
        if not isinstance(sc, dict):
            return None, f"missing {side}"
        clean = {}
        for d in rubric["dimensions"]:
            v = sc.get(d["name"])
            try:
                v = float(v)
            except (TypeError, ValueError):
                return None, f"{side}.{d['name']} is not a number"
            if not 1 <= v <= 5:
                return None, f"{side}.{d['name']}={v} is outside 1-5"
            clean[d["name"]] = v
        out[side] = clean
    out["a_composite"] = composite(out["a_scores"], rubric)
    out["b_composite"] = composite(out["b_scores"], rubric)
    return out, None


def verdict_response_format(judge_model: str, rubric: dict[str, Any], *, api_base: str | None,
                             json_mode: bool) -> tuple[dict[str, Any] | None, str]:
    """``(response_format, mode)`` for the judge: the verdict schema of this rubric, in the form the judge's
    server understands (see specialize.llm.structured); nothing when ``json_mode`` is off."""
    from specialize.llm.structured import UNCONSTRAINED, response_format_for, verdict_schema

    if not json_mode:
        return None, UNCONSTRAINED
    schema = verdict_schema([d["name"] for d in rubric["dimensions"]], VERDICTS)
    return response_format_for(judge_model, schema, api_base=api_base, name="pairwise_verdict")


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    parts = []
    for m in prompt or []:
        role = m.get("role", "user")
        parts.append(f"({role}) {m.get('content', '')}" if role != "user" or len(prompt) > 1 else
                     str(m.get("content", "")))
    return "\n\n".join(parts)


def load_responses(path_value: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """A model's responses from a run_eval results JSON, or a JSONL of {id, prompt, response[, model]}."""
    path = resolve_path(path_value, arg="responses", must_exist=True)
    text = path.read_text(encoding="utf-8")
    items: dict[str, dict[str, Any]] = {}
    name = Path(path).stem
    if path.suffix == ".json":
        doc = json.loads(text)
        name = doc.get("model", {}).get("ref", name) if isinstance(doc.get("model"), dict) else name
        for ex in doc.get("examples", []):
            items[str(ex["id"])] = {"prompt": prompt_text(ex.get("prompt", "")), "response": ex.get("prediction")}
    else:
        for line in text.splitlines():
            if line.strip():
                row = json.loads(line)
                name = row.get("model", name)
                items[str(row["id"])] = {"prompt": prompt_text(row.get("prompt", "")), "response": row.get("response")}
    return name, items


def _to_first(verdict: str, first_is_a: bool) -> str:
    """A verdict as an outcome for the first model of the pair."""
    if verdict in ("tie", "both_bad"):
        return verdict
    a_won = verdict == "A_better"
    return "win" if a_won == first_is_a else "loss"


def judge_pairs(*, models: list[tuple[str, dict[str, dict[str, Any]]]], pairs: list[tuple[int, int]],
                client: Any, judge_model: str, rubric: dict[str, Any], task: str | None, retries: int,
                response_format: dict[str, Any] | None, max_tokens: int,
                progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Judge every shared item of every pair twice (both orders); returns one record per (pair, item).

    ``response_format`` goes with every request (see ``verdict_response_format``). Each call keeps the raw
    text of its last answer, parsed or not."""
    from specialize.llm.client import ChatRequest
    from specialize.runtime.errors import UpstreamError

    jobs_: list[dict[str, Any]] = []
    for i, j in pairs:
        (ni, ri), (nj, rj) = models[i], models[j]
        shared = [k for k in ri if k in rj]
        for item in shared:
            a_resp, b_resp = ri[item].get("response"), rj[item].get("response")
            for first_is_a in (True, False):
                ra, rb = (a_resp, b_resp) if first_is_a else (b_resp, a_resp)
                content = render(ri[item]["prompt"], "" if ra is None else str(ra), "" if rb is None else str(rb),
                                 rubric, task)
                jobs_.append({"pair": (i, j), "item": item, "first_is_a": first_is_a,
                              "messages": [{"role": "user", "content": content}], "attempts": 0,
                              "result": None, "error": None})
    total = len(jobs_)
    done = [0]
    pending = list(range(total))
    for attempt in range(retries + 1):
        if not pending:
            break
        reqs = [ChatRequest(model=judge_model, messages=jobs_[k]["messages"], temperature=0.0, max_tokens=max_tokens,
                            response_format=response_format) for k in pending]

        def on_done(idx: int, res: Any, first_round: bool = attempt == 0) -> None:
            if first_round:
                done[0] += 1
                if progress is not None:
                    progress(done[0], total)

        results = client.chat_many(reqs, on_done)
        again = []
        for k, res in zip(pending, results):
            job = jobs_[k]
            job["attempts"] += 1
            if isinstance(res, UpstreamError):
                job["error"] = f"upstream: {res.problem}"
                continue  # the client already retried transport errors
            job["cost_usd"] = (job.get("cost_usd") or 0.0) + (res.cost_usd or 0.0)
            job["raw"] = res.text
            parsed, err = parse_judgment(res.text, rubric)
            if parsed is not None:
                job["result"], job["error"] = parsed, None
                continue
            job["error"] = f"malformed: {err}"
            job["messages"] = [*job["messages"], {"role": "assistant", "content": res.text},
                               {"role": "user", "content": f"That answer could not be used ({err}). Reply again "
                                                           "with only the JSON object in the requested format."}]
            again.append(k)
        pending = again
    # fold the two orders of each item into one record
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for job in jobs_:
        key = (job["pair"], job["item"])
        rec = by_key.setdefault(key, {"pair": job["pair"], "item": job["item"], "calls": []})
        r = job["result"]
        call = {"first_is_a": job["first_is_a"], "attempts": job["attempts"], "error": job["error"],
                "raw": (job.get("raw") or "")[:4000] if r is None else None}
        if r is not None:
            first_scores = r["a_composite"] if job["first_is_a"] else r["b_composite"]
            second_scores = r["b_composite"] if job["first_is_a"] else r["a_composite"]
            call.update(verdict=r["verdict"], outcome=_to_first(r["verdict"], job["first_is_a"]),
                        first_composite=first_scores, second_composite=second_scores, reasoning=r["reasoning"],
                        a_scores=r["a_scores"], b_scores=r["b_scores"])
        rec["calls"].append(call)
    out = []
    for rec in by_key.values():
        calls = rec["calls"]
        if any(c.get("outcome") is None for c in calls):
            rec.update(outcome="judge_failure", consistent=None)
        else:
            o1, o2 = calls[0]["outcome"], calls[1]["outcome"]
            rec["consistent"] = o1 == o2
            rec["outcome"] = o1 if o1 == o2 else "tie"
            rec["first_composite"] = sum(c["first_composite"] for c in calls) / 2
            rec["second_composite"] = sum(c["second_composite"] for c in calls) / 2
        out.append(rec)
    return out


def summarise_pair(records: list[dict[str, Any]], names: tuple[str, str], *, n_resamples: int,
                   seed: int) -> dict[str, Any]:
    outcomes = [r["outcome"] for r in records]
    wr = stats.win_rate(outcomes, n_resamples=n_resamples, seed=seed)
    judged = [r for r in records if r.get("consistent") is not None]
    consistency = sum(r["consistent"] for r in judged) / len(judged) if judged else None
    calls = [c for r in judged for c in r["calls"] if c.get("verdict") in ("A_better", "B_better")]
    first_pos = sum(c["verdict"] == "A_better" for c in calls) / len(calls) if calls else None
    a = [r["first_composite"] for r in judged]
    b = [r["second_composite"] for r in judged]
    t = stats.paired_t(a, b) if len(a) >= 2 else None
    return {
        "model_a": names[0], "model_b": names[1], "n_items": len(records),
        **{k: wr[k] for k in ("wins", "losses", "ties", "win_rate", "loss_rate", "tie_rate", "win_rate_ties_half",
                              "ci_low", "ci_high", "sign_test_p")},
        "both_bad": outcomes.count("both_bad"), "judge_failures": outcomes.count("judge_failure"),
        "position_consistency": consistency,
        "position_a_preference": first_pos,
        "mean_composite_a": sum(a) / len(a) if a else None, "mean_composite_b": sum(b) / len(b) if b else None,
        "composite_paired_t": t, "ci_method": wr["ci_method"],
        "warnings": wr["warnings"] + (t or {}).get("warnings", []),
        "composite_diff_ci": (lambda c: [c["low"], c["high"]])(stats.bootstrap_ci(
            [x - y for x, y in zip(a, b)], n_resamples=n_resamples, seed=seed)) if a else None,
    }


def adjust_pairs(summaries: list[dict[str, Any]], *, method: str = "holm") -> list[str]:
    """Add family-wise adjusted sign-test p-values (``sign_test_p_adjusted``, Holm by default) to each pair.

    Judging several pairs tests several hypotheses; the unadjusted p stays beside the adjusted one. Returns
    the pairs' own warnings (small samples, undefined tests), each prefixed with its pair, for the report.
    """
    adjusted = stats.adjust_pvalues([s["sign_test_p"] for s in summaries], method=method)
    out = []
    for s, pa in zip(summaries, adjusted):
        s["sign_test_p_adjusted"], s["p_adjust_method"] = pa, method
        out += [f"{s['model_a']} vs {s['model_b']}: {w}." for w in s.get("warnings", [])]
    return out


def all_pairs(n: int, mode: str) -> list[tuple[int, int]]:
    if mode == "vs_first":
        return [(0, j) for j in range(1, n)]
    return list(itertools.combinations(range(n), 2))
