"""export_gguf: merge a LoRA run into its base, convert to GGUF, quantize, check, re-evaluate, and package.

The job's steps, each logged and reported through job_status:

1. merge  -- PEFT ``merge_and_unload`` into the base the run trained on (a plain HF folder is used as is);
   the tokenizer is saved with the training chat template, so the converter embeds that template.
2. convert -- llama.cpp's own ``convert_hf_to_gguf.py`` to f16 (``specialize.export.converter``).
3. quantize -- ``llama_model_quantize`` from llama-cpp-python for each requested type; a type that barely
   applies (k-quants on rows not a multiple of 256) is reported.
4. round trip -- every file's embedded chat template, tokenizer and EOS must reproduce the training-time
   prompt token for token; a difference fails the job and shows both renderings.
5. quant ladder -- with a golden set, the merged model and every file answer it; paired statistics pick the
   smallest file within tolerance (``specialize.export.quant_ladder``). Without one, a stop-at-EOS check only.
6. Modelfile + model card (``specialize.export.modelcard``) and a registry entry.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from specialize.tools.job_tools import JobHandle, to_handle

from specialize.runtime import jobs, registry, tracking
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput, JobError, NotFound, UpstreamError
from specialize.runtime.schema import Params, Result, SparseResult
from specialize.runtime.workspace import FileStem, InputFile, NameOrPath, rel, resolve_path

FTYPES = {"f16": 1, "q8_0": 7, "q5_k_m": 17, "q4_k_m": 15}  # llama_ftype values (llama.h)
PROBES = [  # always checked in the round trip, next to the golden conversations
    [{"role": "user", "content": "Hello, who are you?"}, {"role": "assistant", "content": "A small model."}],
    [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Colour of the sky?"},
     {"role": "assistant", "content": "Blue"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}],
]


class ExportGgufParams(Params):
    source: NameOrPath = Field(description="A training run folder (with run.json and adapter/), its job id, or a plain "
                        "Hugging Face model folder to export without an adapter.")
    quants: list[str] = Field(default_factory=lambda: ["q8_0", "q4_k_m"], min_length=1,
                              description="GGUF types to write, any of: f16, q8_0, q5_k_m, q4_k_m.")
    golden_path: InputFile | None = Field(None, description="Golden JSONL (chat rows, last message = reference answer) "
                                    "to re-evaluate every file on; without it only stop checks run.")
    max_golden_rows: int | None = Field(None, ge=1, description="Use at most this many golden rows.")
    primary_metric: Literal["auto", "exact", "json_field"] = Field(
        "auto", description="Metric that decides the ladder; auto = json_field when every reference is JSON.")
    tolerance_points: float = Field(1.0, ge=0, description="Largest acceptable drop of the primary metric "
                                    "(0-100 points) versus the merged model.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level of the paired test.")
    max_new_tokens: int = Field(128, ge=1, le=4096, description="Generation limit per answer.")
    name: FileStem | None = Field(None, description="File name stem for the GGUF files (default: from the run); "
                                  "letters, digits, '.', '_', '+' and '-' only, no folders.")
    embed_chat_template: str | None = Field(None, description="Chat template to embed instead of the training "
                                            "one; it must still render the training prompt exactly.")
    structured: bool = Field(True, description="Structured-output task: Modelfile uses temperature 0, top_p 1, "
                             "repeat_penalty 1.05.")
    system_prompt: str | None = Field(None, description="SYSTEM line for the Modelfile, if the task uses one.")
    task_description: str | None = Field(None, description="One paragraph for the model card's Task section.")
    eval_reports: list[InputFile] = Field(default_factory=list, description="JSON reports (run_eval, judge) whose "
                                    "top-level 'metrics' the model card cites.")
    keep_merged: bool = Field(True, description="Keep the merged Hugging Face folder next to the GGUF files.")

    @field_validator("quants")
    @classmethod
    def _known_quants(cls, value: list[str]) -> list[str]:
        bad = [q for q in value if q not in FTYPES]
        if bad:
            raise ValueError(f"unknown quant type(s) {bad}; choose from {sorted(FTYPES)}")
        return list(dict.fromkeys(value))


class QuantCoverage(SparseResult):
    intended_share: float = Field(description="Share of weight elements stored in the requested type.")
    types: dict[str, float] = Field(description="Share of weight elements per GGUF tensor type.")
    warning: str | None = Field(None, description="Present when the requested type barely applies.")


class ExportFile(Result):
    quant: str = Field(description="GGUF type of the file (f16, q8_0, q5_k_m, q4_k_m).")
    file: str = Field(description="File name.")
    path: str = Field(description="Path in the workspace.")
    size_bytes: int = Field(description="File size in bytes.")
    size_mb: float = Field(description="File size in MiB.")
    sha256: str = Field(description="sha256 of the file.")
    coverage: QuantCoverage = Field(description="How much of the model really got this type.")


class RoundtripCheck(Result):
    ok: bool = Field(description="The file's chat template, tokenizer and EOS reproduce the training prompt.")
    conversations_checked: int = Field(description="Conversations rendered and compared token by token.")


class StopCheck(Result):
    runaways: int = Field(description="Answers that did not stop at EOS or looped.")
    stopped_share: float = Field(description="Share of answers that ended with EOS.")
    tokens_per_s: float | None = Field(description="Generation speed (the first answer left out).")
    peak_rss_mb: float | None = Field(description="Peak memory of the process that ran the file.")


class LadderRow(Result):
    name: str = Field(description="merged (the reference) or the GGUF type.")
    score: dict[str, float | None] = Field(description="The deciding metric in points (0-100): mean, ci_low, "
                                                       "ci_high.")
    metrics: dict[str, float | list[float | None] | list[str] | dict[str, str] | None] = Field(
        description="run_eval's headline metrics for this model on the golden set (fractions, with _ci; "
                    "ci_methods names each interval's method, stats_warnings holds small-sample warnings).")
    delta: float = Field(description="Points against the merged model (0 for the merged model itself).")
    delta_ci: list[float | None] = Field(description="Paired bootstrap interval of delta (nulls for merged).")
    p_value: float | str = Field(description="Paired test p-value ('-' for the merged model).")
    stopped_pct: float = Field(description="Answers that ended with EOS, percent.")
    runaways: int = Field(description="Answers that did not stop or looped.")
    tokens_per_s: float | None = Field(description="Generation speed (the first answer left out).")
    load_s: float = Field(description="Seconds to load the model.")
    seconds_per_item: float = Field(description="Mean generation seconds per answer.")
    peak_rss_mb: float | None = Field(description="Peak memory of the process that ran the model.")
    size_mb: float = Field(description="Size of the weights in MiB.")
    same_output_as_merged: float = Field(description="Share of answers identical to the merged model's.")
    within_tolerance: bool | None = Field(description="Whether the file holds within the tolerance (null for "
                                                      "merged).")
    rejected_because: list[str] = Field(description="Why the file was not within tolerance.")


class RejectedLine(Result):
    line: int = Field(description="Line number in the golden file.")
    reason: str = Field(description="Why the row could not be used.")


class LadderSummary(Result):
    golden_path: str | None = Field(description="The golden set.")
    n_items: int = Field(description="Golden rows evaluated.")
    rejected_rows: list[RejectedLine] = Field(description="Golden lines that could not be used.")
    task_type: str = Field(description="run_eval task type the answers were scored as.")
    metric: str = Field(description="The run_eval metric that decided the ladder.")
    tolerance: float = Field(description="Largest acceptable drop, points.")
    recommended: str | None = Field(description="The smallest file within tolerance.")
    reasons: list[str] = Field(description="One line per file: ok, or why not.")
    rows: list[LadderRow] = Field(description="The merged model and every file.")


class ExportGgufResult(Result):
    """What a finished export_gguf job reports (job_status result; also export.json in the run folder)."""

    name: str = Field(description="File name stem.")
    source: str = Field(description="The run or model folder exported.")
    source_kind: str = Field(description="run (a LoRA run, merged) or model (a plain Hugging Face folder).")
    merged_dir: str = Field(description="The merged Hugging Face folder.")
    files: list[ExportFile] = Field(description="Every GGUF file written.")
    recommended: str = Field(description="The GGUF type the Modelfile uses.")
    timings: dict[str, float] = Field(description="Seconds per step: merge_s, convert_s, quantize_s.")
    warnings: list[str] = Field(description="Things to know about the files.")
    roundtrip: dict[str, RoundtripCheck] = Field(description="Chat-template round trip per GGUF type.")
    ladder: LadderSummary | None = Field(description="The quant ladder, when a golden set was given.")
    stop_check: dict[str, StopCheck] | None = Field(description="Stop-at-EOS check per GGUF type, without a "
                                                                "golden set.")
    modelfile: str = Field(description="The Ollama Modelfile.")
    stops: list[str] = Field(description="Stop strings written to the Modelfile.")
    model_card: str = Field(description="The model card (markdown).")


@tool(starts_job=True)
def export_gguf(params: ExportGgufParams, *, progress=None) -> JobHandle:
    """Export a trained run (or a base model) to GGUF: merge, convert, quantize, check, re-evaluate, package.

    Returns a job handle at once. The job writes f16/q8_0/q5_k_m/q4_k_m files, checks that each file's chat
    template and EOS reproduce the training prompt token for token (a mismatch fails the job with both
    renderings), re-evaluates every file on the golden set against the merged model with paired statistics,
    recommends the smallest quant within tolerance, and writes an Ollama Modelfile and a model card.
    """
    _resolve_source(params.source)  # fail fast on a bad source
    if params.golden_path:
        resolve_path(params.golden_path, arg="golden_path", must_exist=True)
    return to_handle(jobs.start_job("export_gguf", "specialize.tools.export:export_worker", params))


# -- sources ---------------------------------------------------------------------------------------------------
def _resolve_source(source: str) -> dict[str, Any]:
    try:
        path = resolve_path(source, arg="source", must_exist=True)
    except NotFound:
        try:
            path = jobs.find_run_dir(source)
        except NotFound:
            raise NotFound(f"source {source!r} is neither a folder in the workspace nor a known job id.",
                           fix="Pass a training run folder, its job id, or a Hugging Face model folder.") from None
    if (path / "run.json").is_file():
        run = json.loads((path / "run.json").read_text())
        adapter = path / run.get("adapter_dir", "adapter")
        base = Path(run.get("base_model_path") or "")
        if not adapter.is_dir() or not (base / "config.json").is_file():
            raise InvalidInput(f"Run {path} is incomplete: adapter {adapter} or base {base} is missing.",
                               fix="Export a finished training run; its base_model_path must still exist.")
        return {"kind": "run", "path": path, "run": run, "adapter": adapter, "base": base}
    if (path / "config.json").is_file():
        return {"kind": "model", "path": path, "run": {}, "adapter": None, "base": path}
    raise InvalidInput(f"{path} holds neither run.json nor config.json.",
                       fix="Pass a training run folder or a Hugging Face model folder.")


def merge_model(src: dict[str, Any], out_dir: Path, chat_template: str) -> Path:
    """Merged HF folder with ``chat_template`` in its tokenizer files; a plain model is copied only if needed."""
    from transformers import AutoTokenizer

    tok_dir = src["adapter"] if src["adapter"] and (src["adapter"] / "tokenizer_config.json").is_file() \
        else src["base"]
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    if src["adapter"] is None and tokenizer.chat_template == chat_template:
        return src["base"]
    if src["adapter"] is None:
        shutil.copytree(src["base"], out_dir, dirs_exist_ok=True)
    else:
        import torch
        from peft import PeftModel
        from transformers import AutoConfig, AutoModelForCausalLM

        dtype = getattr(AutoConfig.from_pretrained(src["base"]), "dtype", None) or torch.float32
        base = AutoModelForCausalLM.from_pretrained(src["base"], dtype=torch.float32)
        merged = PeftModel.from_pretrained(base, src["adapter"]).merge_and_unload()
        if isinstance(dtype, torch.dtype) and dtype != torch.float32:
            merged = merged.to(dtype)
        merged.save_pretrained(out_dir)
    tokenizer.chat_template = chat_template
    for stale in out_dir.glob("chat_template.j*"):
        stale.unlink()
    tokenizer.save_pretrained(out_dir)
    return out_dir


def quantize(f16_path: Path, out_path: Path, qtype: str) -> Path:
    import ctypes

    import llama_cpp

    qp = llama_cpp.llama_model_quantize_default_params()
    qp.ftype = FTYPES[qtype]
    qp.nthread = os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(str(f16_path).encode(), str(out_path).encode(), ctypes.byref(qp))
    if rc != 0 or not out_path.is_file():
        raise UpstreamError(f"llama.cpp could not quantize {f16_path.name} to {qtype} (code {rc}).",
                            fix="Try another type, or check the f16 file loads in llama-cpp-python.")
    return out_path


# -- the job ---------------------------------------------------------------------------------------------------
def export_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from specialize.export import gguf_checks, modelcard, quant_ladder
    from specialize.export.converter import convert_hf_to_gguf

    p = ExportGgufParams.model_validate(raw)
    src = _resolve_source(p.source)
    out, total, timings, warnings = ctx.run_dir, 6, {}, []
    run = src["run"]
    tok_dir = src["adapter"] if src["adapter"] else src["base"]
    base_tok = AutoTokenizer.from_pretrained(tok_dir)
    training_template = run.get("chat_template") or base_tok.chat_template
    eos_token = run.get("eos_token") or base_tok.eos_token
    if not training_template:
        raise InvalidInput("Neither run.json nor the tokenizer has a chat template.",
                           fix="Record the chat template the model was trained with in run.json.")
    name = p.name or src["path"].name
    quants = p.quants

    ctx.progress(0, total, message="merging the adapter into its base", force=True)
    t = time.perf_counter()
    merged_dir = merge_model(src, out / "merged", p.embed_chat_template or training_template)
    timings["merge_s"] = round(time.perf_counter() - t, 2)

    ctx.progress(1, total, message="converting to GGUF (f16) with llama.cpp's converter", force=True)
    t = time.perf_counter()
    f16 = out / (f"{name}.f16.gguf" if "f16" in quants else f".{name}.f16.tmp.gguf")
    convert_hf_to_gguf(merged_dir, f16, outtype="f16", log=ctx.log)
    timings["convert_s"] = round(time.perf_counter() - t, 2)

    ctx.progress(2, total, message=f"quantizing: {', '.join(quants)}", force=True)
    files: dict[str, Path] = {}
    t = time.perf_counter()
    for q in quants:
        files[q] = f16 if q == "f16" else quantize(f16, out / f"{name}.{q}.gguf", q)
    timings["quantize_s"] = round(time.perf_counter() - t, 2)
    if "f16" not in quants:
        f16.unlink()
    file_info = []
    for q, path in files.items():
        cov = gguf_checks.quant_coverage(path, q)
        if cov.get("warning"):
            warnings.append(cov["warning"])
            ctx.log(cov["warning"])
        file_info.append({"quant": q, "file": path.name, "path": rel(path), "size_bytes": path.stat().st_size,
                          "size_mb": round(path.stat().st_size / 2**20, 2), "sha256": registry.sha256_file(path),
                          "coverage": cov})

    ctx.progress(3, total, message="round trip: chat template, tokens and EOS", force=True)
    golden_rows, rejected = ([], [])
    if p.golden_path:
        golden_rows, rejected = quant_ladder.load_golden(resolve_path(p.golden_path, arg="golden_path",
                                                                       must_exist=True))
        golden_rows = golden_rows[:p.max_golden_rows] if p.max_golden_rows else golden_rows
    conversations = [r["messages"] for r in golden_rows[:50]] + PROBES
    roundtrips = {}
    for q, path in files.items():
        rt = gguf_checks.check_roundtrip(path, base_tok, training_template, eos_token, conversations)
        roundtrips[q] = rt.summary()
        jobs.write_json_atomic(out / "roundtrip.json", roundtrips)
        rt.raise_if_failed(path)

    ctx.progress(4, total, message="re-evaluating every file", force=True)
    ladder = _ladder(p, merged_dir, files, golden_rows, rejected, ctx) if golden_rows else None
    stop_check = None if ladder else _stop_check(files, _stop_rows(run), p.max_new_tokens)
    failing = [q for q, r in (stop_check or {}).items() if r["runaways"]]
    if ladder:
        chosen = ladder["recommended"]
    else:
        passing = sorted((q for q in files if q not in failing), key=lambda q: files[q].stat().st_size)
        chosen = passing[0] if passing else None
    if chosen is None:
        raise JobError("No exported file passed its checks: " + json.dumps(ladder["reasons"] if ladder else
                       {q: r["runaways"] for q, r in stop_check.items()}),
                       fix="Read ladder.json; try f16 or q8_0, or retrain so the model ends answers with EOS.")

    ctx.progress(5, total, message="writing the Modelfile and the model card", force=True)
    render = lambda msgs: base_tok.apply_chat_template(msgs, chat_template=training_template, tokenize=False,
                                                       add_generation_prompt=True)
    go_template = modelcard.ollama_template(render)
    for conv in PROBES[:2]:
        system = conv[0]["content"] if conv[0]["role"] == "system" else None
        if modelcard.render_ollama_template(go_template, system, conv[-2]["content"]) != render(conv[:-1]):
            raise JobError("The Modelfile TEMPLATE derived from the chat template does not reproduce it.",
                           fix="Write the Modelfile TEMPLATE by hand for this chat template.")
    full_turn = base_tok.apply_chat_template(PROBES[0], chat_template=training_template, tokenize=False)
    stops = modelcard.stop_tokens(eos_token, full_turn)
    modelfile = modelcard.write_modelfile(out / "Modelfile", gguf_file=files[chosen].name, template=go_template,
                                          stops=stops, structured=p.structured, system=p.system_prompt)
    result = {
        "name": name, "source": str(src["path"]), "source_kind": src["kind"], "merged_dir": rel(merged_dir),
        "files": file_info, "recommended": chosen, "timings": timings, "warnings": warnings,
        "roundtrip": {q: {"ok": r["ok"], "conversations_checked": r["conversations_checked"]}
                      for q, r in roundtrips.items()},
        "ladder": ladder and {k: v for k, v in ladder.items() if k != "models"},
        "stop_check": stop_check, "modelfile": rel(modelfile), "stops": stops,
    }
    card = _write_card(p, src, result, ladder, file_info, chosen, warnings, out)
    result["model_card"] = rel(card)
    if not p.keep_merged and merged_dir == out / "merged":
        shutil.rmtree(merged_dir)
    result = ExportGgufResult.model_validate(result).model_dump(mode="json")  # the shape is the model's
    jobs.write_json_atomic(out / "export.json", result)
    registry.record_run({"kind": "export_gguf", "job_id": out.name, "parent": run.get("job_id"),
                         "files": [f["path"] for f in file_info], "recommended": chosen,
                         "dataset": run.get("dataset")})
    tracking.log_run("export_gguf", name=out.name, params=p.model_dump(mode="json"), result=result,
                     datasets={"train": (run.get("dataset") or {}).get("version"),
                               **{f"gguf_{f['quant']}": f["sha256"] for f in file_info}},
                     artifacts={"export_dir": rel(out), "recommended": chosen, "source_run": run.get("job_id")})
    ctx.progress(total, total, message=f"done: recommended {chosen}", force=True)
    return result


def _ladder(p, merged_dir: Path, files: dict[str, Path], rows, rejected, ctx) -> dict[str, Any]:
    from specialize.export import quant_ladder as ql

    task_type = ql.task_type_for(rows)
    metric = ql.ladder_metric(task_type, p.primary_metric)
    ctx.log(f"ladder: merged model on {len(rows)} golden rows ({task_type}, deciding metric {metric})")
    models = {"merged": ql.evaluate_rows("hf", merged_dir, rows, max_new_tokens=p.max_new_tokens,
                                         task_type=task_type)}
    for q, path in files.items():
        ctx.log(f"ladder: {path.name}")
        models[q] = ql.evaluate_rows("gguf", path, rows, max_new_tokens=p.max_new_tokens, task_type=task_type)
    rec = ql.recommend(models["merged"], {q: models[q] for q in files}, metric, tolerance=p.tolerance_points,
                       alpha=p.alpha)
    table = []
    merged_texts = [i["output"] for i in models["merged"]["items"]]
    for label, res in models.items():
        cmp = res.get("comparison", {})
        table.append({
            "name": label, "score": ql.score_points(res["metrics"], metric), "metrics": res["metrics"],
            "delta": cmp.get("delta", 0.0), "delta_ci": [cmp.get("ci_low"), cmp.get("ci_high")],
            "p_value": cmp.get("p_value", "-"), "stopped_pct": round(100 * res["stopped_share"], 1),
            "runaways": res["runaways"], "tokens_per_s": res["tokens_per_s"], "load_s": res["load_s"],
            "seconds_per_item": res["seconds_per_item"], "peak_rss_mb": res["peak_rss_mb"],
            "size_mb": round(res["file_bytes"] / 2**20, 2),
            "same_output_as_merged": round(sum(a == b for a, b in zip(merged_texts, [i["output"] for i in
                                                                                    res["items"]])) / len(rows), 4),
            "within_tolerance": res.get("within_tolerance"), "rejected_because": res.get("rejected_because", []),
        })
    ladder = {"golden_path": p.golden_path, "n_items": len(rows), "rejected_rows": rejected, "task_type": task_type,
              "metric": metric,
              "tolerance": p.tolerance_points, "recommended": rec["recommended"], "reasons": rec["reasons"],
              "rows": table, "models": models}
    jobs.write_json_atomic(ctx.run_dir / "ladder.json", ladder)
    return ladder


def _stop_rows(run: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """Prompts for the stop check: the run's own training rows when readable (on-task), else the probes."""
    from specialize.export import quant_ladder as ql

    path = (run.get("dataset") or {}).get("path")
    if path:
        try:
            rows, _ = ql.load_golden(resolve_path(path, arg="dataset.path", must_exist=True))
            return rows[:limit]
        except Exception:  # noqa: BLE001 -- an unreadable dataset only means falling back to the probes
            pass
    return [{"messages": conv} for conv in PROBES]


def _stop_check(files: dict[str, Path], rows: list[dict[str, Any]], max_new_tokens: int) -> dict[str, Any]:
    from specialize.export import quant_ladder as ql

    out = {}
    for q, path in files.items():
        res = ql.evaluate_rows("gguf", path, rows, max_new_tokens=max_new_tokens)
        out[q] = {"runaways": res["runaways"], "stopped_share": res["stopped_share"],
                  "tokens_per_s": res["tokens_per_s"], "peak_rss_mb": res["peak_rss_mb"]}
    return out


def _write_card(p, src, result, ladder, file_info, chosen, warnings, out: Path) -> Path:
    from specialize.export import modelcard

    run = src["run"]
    dataset = run.get("dataset") or {}
    try:
        entry = registry.find_dataset(dataset["version"]) if dataset.get("version") else None
    except Exception:  # the card still gets written; the version string is shown as recorded
        entry = None
    reports = []
    for path in p.eval_reports:
        data = json.loads(resolve_path(path, arg="eval_reports", must_exist=True).read_text())
        reports.append({"path": path, "metrics": data.get("metrics", {})})
    row = next((r for r in (ladder or {}).get("rows", []) if r["name"] == chosen), None)
    import llama_cpp

    limitations = list(warnings)
    if ladder:
        if ladder["n_items"] < 100:
            limitations.append(f"The golden set has {ladder['n_items']} items: confidence intervals are wide.")
        limitations += [f"{r}" for r in ladder["reasons"] if not r.endswith(": ok")]
    else:
        limitations.append("No golden set was given at export: the files were checked for stopping only.")
    limitations.append("The Modelfile TEMPLATE covers one system + user turn; multi-turn chats in Ollama use "
                       "its own message loop.")
    context = {
        "name": result["name"],
        "source": {"job_id": run.get("job_id"), "path": str(src["path"]), "base_model": run.get("base_model")
                   or str(src["base"]), "base_model_path": run.get("base_model_path")},
        "method": run.get("method") or {}, "recipe": run.get("recipe") or {}, "task": p.task_description,
        "dataset": dataset, "dataset_entry": entry, "training_metrics": run.get("metrics") or {},
        "ladder": ladder, "eval_reports": reports, "files": file_info, "limitations": limitations,
        "deployment": {
            "quant": chosen, "llama_cpp_version": llama_cpp.__version__,
            "coverage_warning": next((f["coverage"].get("warning") for f in file_info if f["quant"] == chosen),
                                     None),
            "hardware": f"{platform.machine()} CPU, {os.cpu_count()} cores (where the export measured it)",
            "latency": f"{row['seconds_per_item']} s per golden answer, {row['tokens_per_s']} tokens/s"
            if row else "not measured (no golden set)",
            "memory": f"{row['peak_rss_mb']} MB peak RSS, file {row['size_mb']} MB" if row
            else "not measured (no golden set)",
        },
    }
    return modelcard.write_model_card(out / "MODEL_CARD.md", context)
