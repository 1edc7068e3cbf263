"""validate_rows: run every quality gate over a JSONL file and split it into accepted and rejected rows.

Per-row gates (``specialize.gates``) run in chunks, in worker processes for large files. Cross-row gates run
here: exact duplicates (normalised hash), label consistency (same or near-identical input, different output),
eval leakage (word n-gram overlap and MinHash against the eval sets), near duplicates (MinHash LSH, one row
kept per cluster), then the optional LLM judge. Invariant: accepted + rejected = every input line.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from specialize import jobs
from specialize.catalog import tool
from specialize.errors import InvalidInput
from specialize.schema import Params, Result
from specialize.workspace import rel, resolve_path

PARALLEL_MIN_ROWS = 20_000
JOB_MIN_BYTES = 64 * 1024 * 1024
CHUNK = 10_000


class ValidateRowsParams(Params):
    input_path: str = Field(description="JSONL file of rows to check (chat, tool_call, instruction or preference).")
    out_dir: str | None = Field(None, description="Folder for accepted.jsonl, rejected.jsonl and summary.json "
                                "(default data/validated/<input name>).")
    expected_format: Literal["chat", "tool_call", "instruction", "preference"] | None = Field(
        None, description="Reject rows of any other format (chat also admits tool_call rows).")
    schema_path: str | None = Field(None, description="JSON Schema file the assistant output must satisfy "
                                    "(JSON only, no prose around it, enum values checked).")
    output_is_json: bool = Field(False, description="Require the output to be bare JSON even without a schema.")
    eval_sets: list[str] = Field(default_factory=list, description="Dev/test/golden/adversarial JSONL files; "
                                 "rows that copy or closely paraphrase them are rejected (eval leakage).")
    near_dup_threshold: float = Field(0.7, ge=0.3, le=1.0, description="Word-shingle Jaccard at or above "
                                      "which two inputs are near duplicates (one row kept per cluster).")
    shingle_words: int = Field(3, ge=1, le=8, description="Words per shingle for near-duplicate detection.")
    num_perm: int = Field(64, ge=16, le=512, description="MinHash permutations for the LSH index.")
    leak_threshold: float = Field(0.7, ge=0.3, le=1.0, description="Jaccard with an eval row at or above "
                                  "which a row counts as leaked.")
    leak_ngram: int = Field(8, ge=3, le=20, description="Word n-gram length for the eval-overlap check.")
    leak_ngram_share: float = Field(0.5, gt=0, le=1.0, description="Share of a row's n-grams found in the "
                                    "eval sets at or above which it counts as leaked.")
    label_threshold: float = Field(0.9, ge=0.5, le=1.0, description="Jaccard at or above which two inputs are "
                                   "near-identical; different outputs for them are a label conflict.")
    label_conflict_action: Literal["reject", "flag"] = Field(
        "reject", description="reject: the later row of a conflicting pair is rejected; flag: both kept and "
        "listed in the summary (use for deliberate near-miss contrasts).")
    min_input_chars: int = Field(8, ge=0, description="Inputs shorter than this are trivial.")
    max_tokens: int = Field(4096, ge=16, description="Rows longer than this many tokens are rejected.")
    tokenizer: str | None = Field(None, description="Local tokenizer folder (or hub id) to count tokens; "
                                  "without it tokens are estimated (ASCII chars/4 + 1 per other char).")
    max_line_bytes: int = Field(1_000_000, ge=1024, description="Lines larger than this are rejected unread.")
    leak_phrases: list[str] = Field(default_factory=list, description="Extra phrases that must not appear in "
                                    "rows (e.g. fragments of your generation prompt).")
    plan_path: str | None = Field(None, description="Generation plan or task.yaml with quotas per category and "
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
    as_job: bool = Field(False, description="Run as a background job (automatic for files over 64 MB).")


class ValidateRowsResult(Result):
    job_id: str | None = Field(None, description="Set when the run was started as a job; follow with job_status.")
    run_dir: str | None = Field(None, description="The job's folder, when run as a job.")
    kind: str = Field("validate_rows", description="Job kind.")
    state: str = Field("succeeded", description="'succeeded' for an in-call run; the job state otherwise.")
    accepted_path: str | None = Field(None, description="Rows that passed every gate.")
    rejected_path: str | None = Field(None, description="Rejected rows, each with line, gate, reason and details.")
    summary_path: str | None = Field(None, description="summary.json: counts per gate and reason, coverage.")
    total: int = Field(0, description="Input lines (accepted + rejected always equals this).")
    accepted: int = Field(0, description="Accepted rows.")
    rejected: int = Field(0, description="Rejected rows.")
    by_gate: dict[str, int] = Field(default_factory=dict, description="Rejections per gate.")
    by_reason: dict[str, int] = Field(default_factory=dict, description="Rejections per gate:reason.")
    coverage: list[dict[str, Any]] = Field(default_factory=list, description="Accepted rows per category and "
                                           "difficulty against the plan's quotas.")
    label_conflicts_flagged: int = Field(0, description="Conflicting pairs kept because label_conflict_action=flag.")
    version: str | None = Field(None, description="Dataset version of accepted.jsonl (ds-...).")
    seconds: float = Field(0.0, description="Wall time of the run.")
    rows_per_s: float = Field(0.0, description="Throughput of the run.")
    samples: list[dict[str, Any]] = Field(default_factory=list, description="A few rejected rows, for a look.")
    stage_seconds: dict[str, float] = Field(default_factory=dict, description="Wall time per stage.")


@tool(starts_job=True, open_world=True)
def validate_rows(params: ValidateRowsParams, *, progress=None) -> ValidateRowsResult:
    """Run the quality gates over a JSONL file: accepted.jsonl, rejected.jsonl (gate, reason, details) and a summary.

    Gates: JSON, row format, output contract (JSON Schema, enums, no prose), leaked generation
    instructions, exact and near duplicates (MinHash LSH, one row per cluster), trivial rows, length, label
    consistency, eval leakage (n-gram and MinHash against the eval sets), coverage against the plan, and an
    optional LLM judge with the 7-dimension row rubric. Every input line ends up accepted or rejected.
    Files over 64 MB (or as_job=true) run as a job and return a job handle. Only the optional judge talks
    to an LLM provider.
    """
    src = resolve_path(params.input_path, arg="input_path", must_exist=True)
    if params.as_job or src.stat().st_size > JOB_MIN_BYTES:
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
                max_line_bytes=params.max_line_bytes, tokenizer=params.tokenizer,
                extra_leak_phrases=list(params.leak_phrases))


_CHECKER: Any = None
_CHUNK_CFG: dict[str, Any] = {}


def _init_worker(cfg: dict[str, Any], chunk_cfg: dict[str, Any]) -> None:
    """Per worker: the row checker, plus what the chunk step needs (shingle size, the eval n-gram reference)."""
    global _CHECKER, _CHUNK_CFG
    from specialize.gates import GateConfig, RowChecker

    _CHECKER = RowChecker(GateConfig(**cfg))
    _CHUNK_CFG = chunk_cfg


def _check_chunk(lines: list[bytes]) -> dict[str, Any]:
    """Per-row gates for one chunk; returns compact columns (no row text) plus the inputs' word hashes."""
    import numpy as np

    from specialize.dedupe import TokenTable, sequence_hashes, unique_ratio

    infos = [_CHECKER.check(line) if line.strip() else _empty_line() for line in lines]
    table = TokenTable.from_tokens([i.tokens for i in infos])
    ratio = unique_ratio(table)
    lens = np.diff(table.offsets)
    min_ratio = _CHECKER.cfg.min_unique_word_ratio
    for k in np.nonzero((lens >= 12) & (ratio < min_ratio))[0].tolist():
        infos[k].gate, infos[k].reason = "trivial", "repetitive"
        infos[k].details = {"unique_word_ratio": round(float(ratio[k]), 3)}
    in_hash = sequence_hashes(table)
    shingles = table.kgrams(_CHUNK_CFG["shingle_words"])  # row-local work done here, in the worker
    share = match = None
    if _CHUNK_CFG.get("ref_sorted") is not None:
        from specialize.dedupe import ngram_share

        share, match = ngram_share(table.kgrams(_CHUNK_CFG["leak_ngram"]), _CHUNK_CFG["ref_sorted"],
                                   _CHUNK_CFG["ref_owner"])
    out_hash = np.array([i.output_hash for i in infos], dtype=np.uint64)
    with np.errstate(over="ignore"):
        row_hash = in_hash ^ (out_hash * np.uint64(0x9E3779B97F4A7C15) + np.uint64(1))
    return {
        "fail": [(i.gate, i.reason, i.details) if i.gate else None for i in infos],
        "row_hash": row_hash, "input_hash": in_hash, "output_hash": out_hash,
        "cat": [i.category for i in infos], "diff": [i.difficulty for i in infos],
        "flat": shingles.flat, "offsets": shingles.offsets, "share": share, "match": match,
    }


def _empty_line() -> Any:
    from specialize.gates import RowInfo

    return RowInfo("json", "empty_line", {})


def _read_lines(path: Path) -> list[bytes]:
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def run_validation(params: ValidateRowsParams, *, progress: Any = None) -> ValidateRowsResult:
    import numpy as np

    from specialize.dedupe import TokenTable

    started = time.perf_counter()
    stages: dict[str, float] = {}
    mark = [started]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[name] = round(now - mark[0], 3)
        mark[0] = now

    src = resolve_path(params.input_path, arg="input_path", must_exist=True)
    out_dir = resolve_path(params.out_dir or f"data/validated/{src.stem}", arg="out_dir", for_write=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = _gate_config(params)
    lines = _read_lines(src)
    n = len(lines)
    stage("read")
    chunks = [lines[i:i + CHUNK] for i in range(0, n, CHUNK)]
    eval_meta, eval_words, eval_inputs = _load_eval_sets(params)
    chunk_cfg: dict[str, Any] = {"shingle_words": params.shingle_words, "leak_ngram": params.leak_ngram,
                                 "ref_sorted": None, "ref_owner": None}
    if eval_meta:
        from specialize.dedupe import ngram_reference

        chunk_cfg["ref_sorted"], chunk_cfg["ref_owner"] = ngram_reference(eval_words, params.leak_ngram)
    workers = params.workers or min(2, os.cpu_count() or 1)
    results: list[dict[str, Any]] = []
    if n >= PARALLEL_MIN_ROWS and workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(cfg, chunk_cfg)) as pool:
            for k, res in enumerate(pool.map(_check_chunk, chunks)):
                results.append(res)
                if progress:
                    progress(min(n, (k + 1) * CHUNK), n, message="per-row gates")
    else:
        _init_worker(cfg, chunk_cfg)
        for k, chunk in enumerate(chunks):
            results.append(_check_chunk(chunk))
            if progress:
                progress(min(n, (k + 1) * CHUNK), n, message="per-row gates")

    fail: list[Any] = [f for r in results for f in r["fail"]]
    row_hash = np.concatenate([r["row_hash"] for r in results]).tolist() if results else []
    input_hash = np.concatenate([r["input_hash"] for r in results]).tolist() if results else []
    output_hash = np.concatenate([r["output_hash"] for r in results]).tolist() if results else []
    cats = [c for r in results for c in r["cat"]]
    diffs = [d for r in results for d in r["diff"]]
    shingles = TokenTable.concat([TokenTable(r["flat"], r["offsets"]) for r in results])
    share = np.concatenate([r["share"] for r in results]) if eval_meta and results else None
    match = np.concatenate([r["match"] for r in results]) if eval_meta and results else None
    del results
    stage("row_gates")

    # eval leakage first (a copied eval row is a leak even when it is also a duplicate): exact input match,
    # then word n-gram overlap; MinHash similarity to eval rows comes with the near-duplicate pass below
    live = np.array([i for i in range(n) if fail[i] is None], dtype=np.int64)
    if eval_meta:
        for i in live.tolist():
            hit = eval_inputs.get(input_hash[i])
            if hit is not None:
                fail[i] = ("eval_leak", "exact_eval_match", {"eval_set": hit[0], "eval_line": hit[1]})
        for i in np.nonzero(share >= params.leak_ngram_share)[0].tolist():
            if fail[i] is None:
                name, line = eval_meta[int(match[i])]
                fail[i] = ("eval_leak", "ngram_overlap", {"eval_set": name, "eval_line": line,
                                                           "ngram": params.leak_ngram,
                                                           "share": round(float(share[i]), 3)})
    stage("eval_leak_exact_ngram")

    # exact duplicates and exact label conflicts
    seen_row: dict[int, int] = {}
    seen_in: dict[int, int] = {}
    conflicts_flagged: list[tuple[int, int]] = []
    for i in range(n):
        if fail[i] is not None:
            continue
        first = seen_row.get(row_hash[i])
        if first is not None:
            fail[i] = ("exact_dup", "exact_duplicate", {"duplicate_of_line": first + 1})
            continue
        seen_row[row_hash[i]] = i
        prev = seen_in.get(input_hash[i])
        if prev is None:
            seen_in[input_hash[i]] = i
        elif output_hash[prev] != output_hash[i]:
            if params.label_conflict_action == "reject":
                fail[i] = ("label_consistency", "conflicting_label",
                           {"conflicts_with_line": prev + 1, "similarity": 1.0})
            else:
                conflicts_flagged.append((prev, i))
    live = np.array([i for i in range(n) if fail[i] is None], dtype=np.int64)
    stage("exact_dup")

    if progress:
        progress(n, n, message="near duplicates")
    conflicts_flagged += _near_duplicates(params, live, shingles, eval_words, eval_meta, output_hash, fail)
    stage("near_dup_minhash_lsh")

    if params.judge_model:
        _judge(params, lines, fail, progress)

    summary = _write_outputs(params, src, out_dir, lines, fail, cats, diffs, conflicts_flagged, cfg)
    stage("write")
    summary["stage_seconds"] = stages
    seconds = time.perf_counter() - started
    summary.update(seconds=round(seconds, 3), rows_per_s=round(n / seconds, 1) if seconds else 0.0)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    return ValidateRowsResult(**{k: v for k, v in summary.items() if k in ValidateRowsResult.model_fields})


def _load_eval_sets(params: ValidateRowsParams) -> tuple[list[tuple[str, int]], Any, dict[int, tuple[str, int]]]:
    from specialize.dedupe import TokenTable, sequence_hashes, tokenize
    from specialize.formats import detect_format, input_text

    meta: list[tuple[str, int]] = []
    tokens: list[list[str]] = []
    for spec in params.eval_sets:
        path = resolve_path(spec, arg="eval_sets", must_exist=True)
        name = rel(path)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for lineno, line in enumerate(fh, 1):
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(row, dict) or detect_format(row) is None:
                    continue
                meta.append((name, lineno))
                tokens.append(tokenize(input_text(row)))
    table = TokenTable.from_tokens(tokens)
    exact: dict[int, tuple[str, int]] = {}
    for h, m in zip(sequence_hashes(table).tolist(), meta):
        exact.setdefault(h, m)
    return meta, table, exact


def _near_duplicates(params: ValidateRowsParams, live: Any, shingles: Any, eval_words: Any,
                     eval_meta: list[tuple[str, int]], output_hash: list[int], fail: list[Any]) -> list[tuple[int, int]]:
    from specialize.dedupe import TokenTable, similar_pairs

    rows = shingles.take(live)
    table = TokenTable.concat([rows, eval_words.kgrams(params.shingle_words)]) if eval_meta else rows
    threshold = min(params.near_dup_threshold, params.leak_threshold if eval_meta else 1.0)
    pairs, sims = similar_pairs(table, threshold=threshold, num_perm=params.num_perm)
    m = len(live)
    edges: dict[int, list[tuple[int, float, bool]]] = {}
    flagged: list[tuple[int, int]] = []
    for (a, b), sim in zip(pairs.tolist(), sims.tolist()):
        if b >= m:  # a train row against an eval row
            if a < m and sim >= params.leak_threshold:
                i = int(live[a])
                if fail[i] is None:
                    name, line = eval_meta[b - m]
                    fail[i] = ("eval_leak", "minhash_match", {"eval_set": name, "eval_line": line,
                                                              "similarity": round(sim, 3)})
            continue
        i, j = int(live[a]), int(live[b])
        conflict = output_hash[i] != output_hash[j]
        if conflict:
            if sim < params.label_threshold:
                continue  # similar inputs with different answers: a deliberate contrast
            if params.label_conflict_action == "flag":
                flagged.append((i, j))
                continue
        elif sim < params.near_dup_threshold:
            continue
        edges.setdefault(j, []).append((i, sim, conflict))
    # one row kept per cluster: union-find over the edges, the earliest row of each cluster survives
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for j, lst in edges.items():
        for i, _, _ in lst:
            if fail[i] is not None and fail[i][0] == "eval_leak" or fail[j] is not None and fail[j][0] == "eval_leak":
                continue
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    for j in sorted(edges):
        if fail[j] is not None:
            continue
        rep = find(j)
        if rep == j:
            continue
        earlier = [(i, s, c) for i, s, c in edges[j] if i < j and (fail[i] is None or fail[i][0] != "eval_leak")]
        if not earlier:
            continue
        i, sim, conflict = max(earlier, key=lambda e: e[1])
        if conflict:
            fail[j] = ("label_consistency", "conflicting_label", {"conflicts_with_line": i + 1,
                                                                 "similarity": round(sim, 3),
                                                                 "cluster_kept_line": rep + 1})
        else:
            fail[j] = ("near_dup", "near_duplicate", {"duplicate_of_line": i + 1, "similarity": round(sim, 3),
                                                      "cluster_kept_line": rep + 1})
    return flagged


def _judge(params: ValidateRowsParams, lines: list[bytes], fail: list[Any], progress: Any) -> None:
    from specialize.tools._review import review_rows

    idx = [i for i in range(len(lines)) if fail[i] is None]
    verdicts = review_rows(params, [lines[i].decode("utf-8") for i in idx], progress=progress)
    for i, verdict in zip(idx, verdicts):
        if verdict is not None:
            fail[i] = verdict


def _write_outputs(params: ValidateRowsParams, src: Path, out_dir: Path, lines: list[bytes], fail: list[Any],
                   cats: list[Any], diffs: list[Any], conflicts: list[tuple[int, int]],
                   cfg: dict[str, Any]) -> dict[str, Any]:
    from specialize import registry
    from specialize.formats import dumps_line

    acc_path, rej_path = out_dir / "accepted.jsonl", out_dir / "rejected.jsonl"
    by_gate: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    cells: Counter[tuple[Any, Any]] = Counter()
    samples: list[dict[str, Any]] = []
    accepted = 0
    with open(acc_path, "wb") as acc, open(rej_path, "w", encoding="utf-8") as rej:
        for i, line in enumerate(lines):
            f = fail[i]
            if f is None:
                acc.write(line + b"\n")
                accepted += 1
                cells[(cats[i], diffs[i])] += 1
                continue
            gate, reason, details = f
            by_gate[gate] += 1
            by_reason[f"{gate}:{reason}"] += 1
            rec: dict[str, Any] = {"line": i + 1, "gate": gate, "reason": reason, "details": details or {}}
            if gate == "json":
                rec["raw"] = line[:2000].decode("utf-8", "replace")
            else:
                rec["row"] = json.loads(line)
            rej.write(dumps_line(rec) + "\n")
            if len(samples) < 5:
                samples.append({k: v for k, v in rec.items() if k != "row"})
    coverage = _coverage(params, cells)
    version = None
    if params.record_version:
        parents = [registry.find_dataset(src)["version"]]
        gate_cfg = {k: v for k, v in params.model_dump().items() if k not in ("as_job", "record_version", "out_dir")}
        gate_cfg["schema"] = cfg.get("schema")
        version = registry.record_dataset(acc_path, kind="accepted", parents=parents, config=gate_cfg)["version"]
    return dict(accepted_path=rel(acc_path), rejected_path=rel(rej_path), summary_path=rel(out_dir / "summary.json"),
                total=len(lines), accepted=accepted, rejected=len(lines) - accepted, by_gate=dict(by_gate),
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
