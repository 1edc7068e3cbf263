"""The quant ladder: re-evaluate every exported file on the golden set and pick the smallest one that holds.

Each model (the merged Hugging Face model, then every GGUF file) is evaluated in its own subprocess
(``python -m specialize.export.quant_ladder``) so load time, tokens/s and peak memory are measured one model at a
time. The scorer is deliberately small and self-contained (``score_answer``): exact match of the assistant
answer, plus the share of matching fields when the reference is a JSON object. ``evaluate_rows`` is the one
function to point at ``run_eval`` later. Paired statistics compare each file with the merged model on the
same items: McNemar's exact test for exact match, Wilcoxon's signed-rank test for the field score, and a
paired bootstrap interval for the difference.
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


def score_answer(output: str, reference: str) -> dict[str, Any]:
    """exact (0/1); for JSON-object references also json_valid and json_field (share of fields equal)."""
    out: dict[str, Any] = {"exact": float(output.strip() == reference.strip())}
    ref = _json_obj(reference)
    if ref is not None:
        got = _json_obj(output.strip())
        out["json_valid"] = float(got is not None)
        keys = set(ref) | set(got or {})
        out["json_field"] = (sum(1 for k in keys if got is not None and k in got and k in ref and got[k] == ref[k])
                             / len(keys)) if keys else 1.0
    return out


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


def eval_gguf(path: str, rows: list[dict[str, Any]], max_new_tokens: int, n_ctx: int = 2048) -> dict[str, Any]:
    import llama_cpp

    t0 = time.perf_counter()
    llm = llama_cpp.Llama(model_path=path, n_ctx=n_ctx, verbose=False, seed=0)
    load_s = time.perf_counter() - t0
    outputs, n_tokens, gen_s = [], 0, 0.0
    for row in rows:
        t = time.perf_counter()
        res = llm.create_chat_completion(messages=row["messages"][:-1], temperature=0.0, top_p=1.0, top_k=1,
                                         repeat_penalty=1.0, max_tokens=max_new_tokens)
        gen_s += time.perf_counter() - t
        choice = res["choices"][0]
        n_tokens += res["usage"]["completion_tokens"]
        outputs.append({"text": choice["message"]["content"] or "", "stopped": choice["finish_reason"] == "stop",
                        "tokens": res["usage"]["completion_tokens"]})
    return {"outputs": outputs, "load_s": load_s, "gen_s": gen_s, "tokens": n_tokens,
            "file_bytes": Path(path).stat().st_size}


def eval_hf(path: str, rows: list[dict[str, Any]], max_new_tokens: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    eos = set(model.generation_config.eos_token_id if isinstance(model.generation_config.eos_token_id, list)
              else [model.generation_config.eos_token_id or tok.eos_token_id])
    outputs, n_tokens, gen_s = [], 0, 0.0
    for row in rows:
        enc = tok.apply_chat_template(row["messages"][:-1], add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        t = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id or tok.eos_token_id)
        gen_s += time.perf_counter() - t
        new = out[0, enc["input_ids"].shape[1]:].tolist()
        stopped = bool(new) and new[-1] in eos
        n_tokens += len(new)
        outputs.append({"text": tok.decode(new, skip_special_tokens=True), "stopped": stopped, "tokens": len(new)})
    size = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
    return {"outputs": outputs, "load_s": load_s, "gen_s": gen_s, "tokens": n_tokens, "file_bytes": size}


def evaluate_rows(kind: str, model_path: Path, rows: list[dict[str, Any]], *, max_new_tokens: int = 128,
                  timeout: float = 3600) -> dict[str, Any]:
    """Generate answers for ``rows`` with one model in a fresh process; score them; add speed and memory."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        inp, out = Path(tmp) / "rows.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps(rows))
        proc = subprocess.run([sys.executable, "-m", "specialize.export.quant_ladder", kind, str(model_path), str(inp),
                               str(out), str(max_new_tokens)], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0 or not out.is_file():
            tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
            raise UpstreamError(f"Evaluating {model_path} ({kind}) failed:\n{tail}",
                                fix="Load the file by hand with the same runtime to see the full error.")
        raw = json.loads(out.read_text())
    items = []
    for row, o in zip(rows, raw["outputs"]):
        s = score_answer(o["text"], row["messages"][-1]["content"])
        items.append({**s, "output": o["text"], "stopped": o["stopped"], "tokens": o["tokens"],
                      "runaway": is_runaway(o["text"], o["stopped"])})
    return {"items": items, "load_s": round(raw["load_s"], 3),
            "tokens_per_s": round(raw["tokens"] / raw["gen_s"], 1) if raw["gen_s"] else None,
            "seconds_per_item": round(raw["gen_s"] / max(1, len(rows)), 4),
            "peak_rss_mb": raw["peak_rss_mb"], "file_bytes": raw["file_bytes"],
            "stopped_share": round(sum(i["stopped"] for i in items) / len(items), 4),
            "runaways": sum(i["runaway"] for i in items)}


# -- paired statistics and the recommendation ----------------------------------------------------------------
def primary_metric(rows: list[dict[str, Any]], requested: str = "auto") -> str:
    if requested != "auto":
        return requested
    refs = [_json_obj(r["messages"][-1]["content"]) for r in rows]
    return "json_field" if all(r is not None for r in refs) else "exact"


def mean_ci(values: list[float], seed: int = 0) -> dict[str, float]:
    import numpy as np
    from scipy import stats

    arr = np.asarray(values, dtype=float) * 100
    mean = float(arr.mean())
    if len(arr) < 2 or np.all(arr == arr[0]):
        return {"mean": round(mean, 2), "ci_low": round(mean, 2), "ci_high": round(mean, 2)}
    ci = stats.bootstrap((arr,), np.mean, n_resamples=2000, method="percentile", random_state=seed).confidence_interval
    return {"mean": round(mean, 2), "ci_low": round(float(ci.low), 2), "ci_high": round(float(ci.high), 2)}


def paired_compare(reference: list[float], candidate: list[float], metric: str, seed: int = 0) -> dict[str, Any]:
    """candidate minus reference, in points (0-100), with a paired test and a paired bootstrap interval."""
    import numpy as np
    from scipy import stats

    ref, cand = np.asarray(reference, float), np.asarray(candidate, float)
    diff = (cand - ref) * 100
    out: dict[str, Any] = {"delta": round(float(diff.mean()), 2), "n": int(len(diff))}
    if metric == "exact":
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
    """Mark each file within tolerance or not; recommend the smallest that is, and passes its checks."""
    ref_scores = [i.get(metric) or 0.0 for i in reference["items"]]
    chosen, why = None, []
    for name, res in sorted(files.items(), key=lambda kv: kv[1]["file_bytes"]):
        cand = [i.get(metric) or 0.0 for i in res["items"]]
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
    kind, model, rows_path, out_path, max_new = argv
    rows = json.loads(Path(rows_path).read_text())
    fn = eval_gguf if kind == "gguf" else eval_hf
    res = fn(model, rows, int(max_new))
    res["peak_rss_mb"] = _peak_rss_mb()
    Path(out_path).write_text(json.dumps(res))


if __name__ == "__main__":
    _main(sys.argv[1:])
