"""generate_batch: synthetic rows from a teacher LLM, following a plan of categories x difficulties x counts.

Each plan cell is split into requests of ``rows_per_request`` rows; every request renders the jinja2 prompt
(default ``references/prompts/generate_rows.j2``) and goes through ``specialize.llm.client.LLMClient`` (bounded
concurrency, retries with backoff honouring Retry-After, SQLite cache keyed by model + messages + params), so
running a plan again costs no calls. Rows land in ``data/generated/batch_NNN.jsonl`` with provenance; what cannot
be parsed lands in ``batch_NNN.rejected.jsonl`` with the raw text and a reason. ``batch_NNN.done.jsonl`` lists
finished requests, so an interrupted plan resumes without repeating them. Large plans run as jobs.

With ``constrained`` (the default) the teacher is asked for output that has the row shape: a local llama.cpp
server (``api_base`` on this machine) samples under a grammar built from the rows' schema, whose ``output`` is
the task's JSON schema, so even a small local teacher writes rows that parse and fit the contract; a hosted
teacher gets JSON-schema mode where litellm says the model supports it (rows wrapped as ``{"rows": [...]}``),
JSON-object mode for one-row requests, and nothing otherwise. The mode is recorded in each row's provenance.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import random
import re
import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from specialize.tools.job_tools import InlineOrJob

from specialize.runtime import jobs
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import (InputFile, OutputDir, OutputFile, make_dirs, open_write, rel, resolve_path,
                                         write_text)

JOB_MIN_REQUESTS = 50
# One call renders and holds every prompt of its plan: about 0.1 ms and a few KB each. These limits keep a
# worker's plan to a couple of seconds and tens of MB, and let the call itself refuse a huge plan at once.
MAX_PLAN_REQUESTS = 20_000
MAX_PLAN_CELLS = 10_000
DEFAULT_TEMPLATE = "builtin:prompts/generate_rows.j2"


class PlanCell(BaseModel):
    category: str = Field(description="Category label of the rows in this cell.")
    difficulty: str = Field(description="Difficulty label (e.g. easy, medium, hard).")
    count: int = Field(ge=1, le=1_000_000, description="Rows wanted in this cell.")


class GenerateBatchParams(Params):
    model: str = Field(description="Teacher model as a litellm string (e.g. 'openai/gpt-4o-mini', "
                       "'anthropic/claude-...'); its API key is read from the environment, never passed here.")
    api_base: str | None = Field(None, description="OpenAI-compatible base URL (local llama.cpp server, proxy).")
    plan_path: InputFile | None = Field(None, description="YAML plan, or a task.yaml with a generation_plan section "
                                  "(cells, difficulty_guide, languages, required_edge_cases, negative_constraints); "
                                  "its description and schema are used unless given here.")
    task_description: str | None = Field(None, description="What the small model must do (overrides the plan's).")
    schema_path: InputFile | None = Field(None, description="JSON Schema file of the output contract (overrides "
                                          "the plan's).")
    cells: list[PlanCell] = Field(default_factory=list, description="Explicit plan cells (category, difficulty, "
                                  "count); added to the plan file's cells.")
    categories: list[str] = Field(default_factory=list, description="With difficulties and rows_per_cell: a full grid.")
    difficulties: list[str] = Field(default_factory=list, description="Difficulty labels for the grid.")
    rows_per_cell: int = Field(0, ge=0, le=1_000_000, description="Rows per category x difficulty cell of the grid.")
    required_edge_cases: list[str] = Field(default_factory=list, description="Edge cases to work in; spread "
                                           "round-robin over the requests.")
    negative_constraints: list[str] = Field(default_factory=list, description="Things rows must never do.")
    seed_examples_path: InputFile | None = Field(None, description="JSONL of hand-written rows; up to 3 are shown in "
                                           "each prompt as shape references.")
    template_path: InputFile = Field(DEFAULT_TEMPLATE, description="jinja2 prompt template (its sha256 goes into "
                               "every row's provenance).")
    system_prompt: str | None = Field(None, description="System message to put at the start of every row.")
    rows_per_request: int = Field(5, ge=1, le=100, description="Rows asked for in one request.")
    constrained: bool = Field(True, description="Ask the teacher for output in the row shape: a local llama.cpp "
                              "server samples under a grammar built from the rows' schema; a hosted model gets "
                              "JSON-schema mode where litellm supports it. False: free text, parsed afterwards.")
    temperature: float = Field(0.9, ge=0, le=2, description="Teacher sampling temperature.")
    max_tokens: int = Field(4096, ge=64, description="Completion token cap per request.")
    concurrency: int = Field(8, ge=1, le=512, description="Requests in flight at once.")
    processes: int | None = Field(None, ge=1, le=64, description="Worker processes sharing the LLM calls "
                                  "(litellm costs milliseconds of CPU per call): null = one per core, up to 4, "
                                  "for batches of 128+ uncached requests; 1 = all in this process.")
    max_retries: int = Field(6, ge=0, le=30, description="Retries per request on 429/5xx/timeouts.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout in seconds.")
    seed: int = Field(0, description="Plan seed: request seeds, edge-case spread and row ids derive from it.")
    out_dir: OutputDir = Field("data/generated", description="Folder for batch_NNN.jsonl and its companions.")
    resume_batch: OutputFile | None = Field(None, description="Continue an interrupted plan into this batch file "
                                     "(e.g. data/generated/batch_003.jsonl); finished requests are skipped.")
    as_job: bool = Field(False, description="Run as a background job (automatic above 50 requests).")


class Usage(Result):
    requests: int = Field(0, description="Requests made (cached ones included).")
    http_calls: int = Field(0, description="HTTP calls that went out (retries included).")
    cache_hits: int = Field(0, description="Requests answered from the cache.")
    retries: int = Field(0, description="Retries after 429/5xx/timeouts.")
    failures: int = Field(0, description="Requests that still failed after their retries.")
    prompt_tokens: int = Field(0, description="Prompt tokens.")
    completion_tokens: int = Field(0, description="Completion tokens.")
    cost_usd: float = Field(0.0, description="Cost of the calls made now (litellm prices; cache hits are free).")
    cost_known: bool = Field(True, description="False when some model's price is unknown to litellm.")


class GenerateBatchResult(InlineOrJob):
    kind: str = Field("generate_batch", description="Job kind.")
    batch_path: str = Field(description="JSONL of generated rows (chat format with meta and provenance).")
    rejected_path: str = Field(description="Unparsable answers and failed requests, with raw text and reason.")
    planned_rows: int = Field(description="Rows the plan asks for.")
    requests: int = Field(description="Requests the plan needs.")
    rows: int = Field(0, description="Rows written to the batch so far.")
    rejected: int = Field(0, description="Rejected records written so far.")
    failed_requests: int = Field(0, description="Requests that failed after retries or whose answer held no usable "
                                 "row (resume_batch, or a re-run, asks them again).")
    skipped_requests: int = Field(0, description="Requests already finished in an earlier run (resume).")
    template_sha256: str = Field(description="sha256 of the prompt template.")
    usage: Usage = Field(default_factory=Usage, description="Calls, cache hits, retries, tokens and cost.")
    version: str | None = Field(None, description="Dataset version of the batch file (ds-...).")
    decoding_mode: str | None = Field(None, description="How answers were constrained: schema_grammar (local "
                                      "llama.cpp), json_schema, json_object, unconstrained, or mixed.")


# -- the plan ------------------------------------------------------------------------------------------------


def load_plan_file(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{path.name} is not a YAML mapping.", fix="Write the plan as a YAML mapping.")
    plan = dict(data.get("generation_plan") or data)
    plan.setdefault("task_description", data.get("task_description") or data.get("description"))
    schema = plan.get("schema") or data.get("schema")
    if schema and not str(schema).startswith("builtin:") and not Path(str(schema)).is_absolute():
        schema = str(path.parent / str(schema))
    plan["schema"] = schema
    return plan


def load_plan_cells(path: Path) -> list[dict[str, Any]]:
    plan = load_plan_file(path)
    return _grid(plan.get("cells") or [], plan.get("categories") or [], plan.get("difficulties") or [],
                 int(plan.get("rows_per_cell") or 0))


def _grid(cells: list[Any], categories: list[str], difficulties: list[str], per_cell: int) -> list[dict[str, Any]]:
    grid = len(categories) * len(difficulties) if per_cell else 0
    if len(cells) + grid > MAX_PLAN_CELLS:
        raise InvalidInput(
            f"The plan has {len(cells) + grid:,} cells ({len(cells):,} listed + {len(categories):,} categories x "
            f"{len(difficulties):,} difficulties); one plan holds at most {MAX_PLAN_CELLS:,}.",
            fix="Use fewer categories or difficulties per plan, or split the plan over several calls.")
    out = [PlanCell.model_validate(c).model_dump() if not isinstance(c, PlanCell) else c.model_dump() for c in cells]
    if categories and difficulties and per_cell:
        out += [{"category": c, "difficulty": d, "count": per_cell} for c in categories for d in difficulties]
    return out


def plan_cells(params: GenerateBatchParams) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The plan's cells (plan file first, then the arguments) and the plan file's settings.

    Refuses, before anything is rendered, a plan larger than one call may run (``MAX_PLAN_REQUESTS``).
    """
    plan: dict[str, Any] = {}
    if params.plan_path:
        plan = load_plan_file(resolve_path(params.plan_path, arg="plan_path", must_exist=True))
    try:
        file_per_cell = int(plan.get("rows_per_cell") or 0)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"plan_path: rows_per_cell {plan.get('rows_per_cell')!r} is not a whole number.",
                           fix="Write rows_per_cell as a whole number.") from exc
    cells = _grid(plan.get("cells") or [], plan.get("categories") or [], plan.get("difficulties") or [],
                  file_per_cell)
    cells += _grid(params.cells, params.categories, params.difficulties, params.rows_per_cell)
    if not cells:
        raise InvalidInput("The plan has no cells.", fix="Pass cells, a categories x difficulties grid with "
                           "rows_per_cell, or a plan_path whose plan has cells.")
    per = params.rows_per_request
    requests = sum(-(-c["count"] // per) for c in cells)
    if requests > MAX_PLAN_REQUESTS:
        rows = sum(c["count"] for c in cells)
        at_most = -(-rows // 100)
        raise InvalidInput(
            f"The plan needs {requests:,} requests ({rows:,} rows at rows_per_request {per}); one generate_batch "
            f"call runs at most {MAX_PLAN_REQUESTS:,} requests (rows_per_cell, cells and rows_per_request set "
            "the size).",
            fix=(f"Split the plan over {-(-requests // MAX_PLAN_REQUESTS):,} or more calls, each with a smaller "
                 "rows_per_cell or fewer cells (every call writes its own batch file)"
                 + (f", or raise rows_per_request (at 100 rows per request this plan needs {at_most:,} requests)"
                    if per < 100 else "") + "."))
    return cells, plan


def build_requests(params: GenerateBatchParams, *, limit: int | None = None
                   ) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    """Every request of the plan (cell, n, seed, rendered messages), the template's sha256, and the plan.

    ``limit`` stops after that many requests: enough to check the template, schema and description when the
    plan itself runs later in a job.
    """
    import jinja2

    cells, plan = plan_cells(params)
    description = params.task_description or plan.get("task_description")
    if not description:
        raise InvalidInput("No task description.", fix="Pass task_description or a plan with a description.")
    contract = "Free text (no output schema was given)."
    schema_ref = params.schema_path or plan.get("schema")
    output_schema: dict[str, Any] | None = None
    if schema_ref:
        schema_file = resolve_path(schema_ref, arg="schema_path", must_exist=True)
        schema_text = schema_file.read_text()
        contract = "A JSON object matching this JSON Schema (compact, on one line):\n" + schema_text.strip()
        try:
            output_schema = json.loads(schema_text)
        except ValueError as exc:
            raise InvalidInput(f"{schema_ref} is not valid JSON ({exc}).", fix="Fix the schema file.") from exc
    tpl_path = resolve_path(params.template_path, arg="template_path", must_exist=True)
    tpl_text = tpl_path.read_text()
    tpl_sha = hashlib.sha256(tpl_text.encode()).hexdigest()
    template = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True).from_string(tpl_text)
    edge = list(plan.get("required_edge_cases") or []) + list(params.required_edge_cases)
    negative = list(plan.get("negative_constraints") or []) + list(params.negative_constraints)
    guide = plan.get("difficulty_guide") or {}
    langs = plan.get("languages") or {}
    lang_text = ", ".join(f"{k} {v:.0%}" if isinstance(v, (int, float)) else str(k) for k, v in langs.items()) \
        if isinstance(langs, dict) else ", ".join(map(str, langs))
    examples = _examples(params)
    rng = random.Random(params.seed)
    reqs: list[dict[str, Any]] = []
    for cell in cells:
        batches = math.ceil(cell["count"] / params.rows_per_request)
        left = cell["count"]
        for b in range(batches):
            if limit is not None and len(reqs) >= limit:
                break
            n = min(params.rows_per_request, left)
            left -= n
            idx = len(reqs)
            picked = [edge[(idx + k) % len(edge)] for k in range(min(2, len(edge)))] if edge else []
            shown = rng.sample(examples, min(3, len(examples))) if examples else []
            prompt = template.render(task_description=description, output_contract=contract,
                                     category=cell["category"], difficulty=cell["difficulty"],
                                     difficulty_hint=guide.get(cell["difficulty"], ""), n=n, batch_index=b + 1,
                                     batches_in_cell=batches, edge_cases=picked, negative_constraints=negative,
                                     languages=lang_text, examples=shown)
            seed = (params.seed * 1_000_003 + idx) % (2 ** 31)
            reqs.append({"index": idx, "category": cell["category"], "difficulty": cell["difficulty"], "n": n,
                         "seed": seed, "messages": [{"role": "user", "content": prompt}]})
    plan_sha = hashlib.sha256(json.dumps([{k: r[k] for k in ("category", "difficulty", "n", "seed", "messages")}
                                          for r in reqs], sort_keys=True).encode()).hexdigest()
    for r in reqs:
        r["output_schema"] = output_schema  # the response format is built when the plan runs (it may ask litellm)
        r["key"] = hashlib.sha256(json.dumps([params.model, r["messages"], r["seed"], params.temperature,
                                              params.max_tokens] + ([True] if params.constrained else []),
                                             sort_keys=True).encode()).hexdigest()[:24]
    return reqs, tpl_sha, {"plan_sha256": plan_sha}


def _row_format(params: GenerateBatchParams, output_schema: dict[str, Any] | None,
                n: int) -> tuple[dict[str, Any] | None, str]:
    """The response format asking for ``n`` rows (see the module docstring), and its mode's name."""
    from specialize.llm import structured as st

    if not params.constrained:
        return None, st.UNCONSTRAINED
    if st.is_loopback(params.api_base):
        return st.response_format_for(params.model, st.rows_schema(output_schema, n, top_level_array=True),
                                      api_base=params.api_base, name="rows")
    fmt, mode = st.response_format_for(params.model, st.rows_schema(output_schema, n, top_level_array=False),
                                       api_base=params.api_base, name="rows")
    if mode == st.JSON_OBJECT and n > 1:  # one object per answer would cut a multi-row answer to one row
        return None, st.UNCONSTRAINED
    return fmt, mode


def _examples(params: GenerateBatchParams) -> list[str]:
    if not params.seed_examples_path:
        return []
    from specialize.data.formats import input_text, iter_jsonl, output_text

    path = resolve_path(params.seed_examples_path, arg="seed_examples_path", must_exist=True)
    out = []
    for row in iter_jsonl(path):
        out.append(json.dumps({"input": input_text(row), "output": _maybe_json(output_text(row))}, ensure_ascii=False))
        if len(out) >= 50:
            break
    return out


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


# -- turning answers into rows ------------------------------------------------------------------------------


def to_row(obj: dict[str, Any], system_prompt: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """A teacher object as a canonical row, or ``(None, reason)``."""
    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, separators=(",", ":"))

    if isinstance(obj.get("messages"), list):
        row = {"messages": obj["messages"]}
    elif "input" in obj and "output" in obj:
        row = {"messages": [{"role": "user", "content": text(obj["input"])},
                            {"role": "assistant", "content": text(obj["output"])}]}
    elif "instruction" in obj and "output" in obj:
        user = obj["instruction"] + (f"\n\n{obj['input']}" if obj.get("input") else "")
        row = {"messages": [{"role": "user", "content": text(user)},
                            {"role": "assistant", "content": text(obj["output"])}]}
    elif {"prompt", "chosen", "rejected"} <= set(obj):
        return {k: obj[k] for k in ("prompt", "chosen", "rejected")}, None
    else:
        return None, "unrecognised_row_shape"
    if system_prompt and row["messages"] and row["messages"][0].get("role") != "system":
        row["messages"].insert(0, {"role": "system", "content": system_prompt})
    return row, None


class _Writer:
    """Appends rows, rejects and done-markers as each request finishes (thread-safe, flushed each time)."""

    def __init__(self, batch: Path, params: GenerateBatchParams, tpl_sha: str, plan_sha: str,
                 progress: Any, planned_rows: int, rows_done: int) -> None:
        self.batch, self.params, self.tpl_sha, self.plan_sha = batch, params, tpl_sha, plan_sha
        self.rej_path = batch.with_name(batch.stem + ".rejected.jsonl")
        self.done_path = batch.with_name(batch.stem + ".done.jsonl")
        self.lock = threading.Lock()
        self.rows = rows_done
        self.rejected = _count(self.rej_path)
        self.failed = 0
        self.progress = progress
        self.planned = planned_rows

    def finish(self, req: dict[str, Any], res: Any) -> bool:
        """Write what one request produced; True when it is done (it produced rows)."""
        from specialize.data.formats import dumps_line
        from specialize.llm.textjson import extract_objects
        from specialize.runtime.errors import UpstreamError

        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        rows: list[dict[str, Any]] = []
        rejects: list[dict[str, Any]] = []
        base = {"request_index": req["index"], "category": req["category"], "difficulty": req["difficulty"],
                "seed": req["seed"], "plan_sha256": self.plan_sha, "created_at": now}
        if isinstance(res, UpstreamError):
            rejects.append({**base, "reason": "upstream_error", "error": str(res)[:500], "raw": None})
        else:
            objs, bad = extract_objects(res.text)
            objs = _unwrap_rows(objs)
            for frag, why in bad:
                rejects.append({**base, "reason": why, "raw": frag})
            for obj in objs:
                row, why = to_row(obj, self.params.system_prompt)
                if row is None or len(rows) >= req["n"]:
                    rejects.append({**base, "reason": why or "beyond_requested_count",
                                    "raw": json.dumps(obj, ensure_ascii=False)[:2000]})
                    continue
                k = len(rows)
                meta = {"category": req["category"], "difficulty": req["difficulty"], "source": "generated"}
                if isinstance(obj.get("language"), str):
                    meta["language"] = obj["language"]
                row = {"id": f"gen-{self.plan_sha[:8]}-{req['index']:05d}-{k:02d}", **row, "meta": meta,
                       "provenance": {"teacher": self.params.model, "template": self.params.template_path,
                                      "template_sha256": self.tpl_sha, "category": req["category"],
                                      "difficulty": req["difficulty"], "seed": req["seed"],
                                      "request_index": req["index"], "plan_sha256": self.plan_sha,
                                      "decoding": req["mode"],
                                      "cached": bool(getattr(res, "cached", False)), "created_at": now}}
                rows.append(row)
            if not objs and not bad:
                rejects.append({**base, "reason": "no_json_rows_in_answer", "raw": res.text[:2000]})
        # A request is done when it produced rows. A failed call, or an answer with no usable row, stays undone:
        # a resume (or a re-run, once the caller drops the cached answer) asks again.
        finished = bool(rows)
        with self.lock:
            with open_write(self.batch, "a", arg="out_dir", encoding="utf-8") as fh:
                fh.writelines(dumps_line(r) + "\n" for r in rows)
            if rejects:
                with open_write(self.rej_path, "a", arg="out_dir", encoding="utf-8") as fh:
                    fh.writelines(dumps_line(r) + "\n" for r in rejects)
            if finished:
                with open_write(self.done_path, "a", arg="out_dir", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": req["key"], "index": req["index"], "rows": len(rows)}) + "\n")
            else:
                self.failed += 1
            self.rows += len(rows)
            self.rejected += len(rejects)
            if self.progress:
                self.progress(self.rows, self.planned, message=f"{self.rows}/{self.planned} rows")
        return finished


def _unwrap_rows(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as separate objects: an answer written as ``{"rows": [...]}`` (JSON-schema mode) is opened up."""
    out: list[dict[str, Any]] = []
    for obj in objs:
        if set(obj) == {"rows"} and isinstance(obj["rows"], list):
            out += [r if isinstance(r, dict) else {"_not_an_object": r} for r in obj["rows"]]
        else:
            out.append(obj)
    return out


def _count(path: Path) -> int:
    return sum(1 for _ in open(path, "rb")) if path.exists() else 0


def _drop_retried(path: Path, retry: set[int], plan_sha: str, *, arg: str) -> int:
    """Remove the records of requests that are about to run again; returns the number of records left.

    A resumed plan re-asks the requests that failed or gave no usable row. Their earlier reject records (and
    any rows a killed run wrote before marking the request done) would otherwise stay in the files and in the
    counts beside the new outcome. Records of another plan written into the same file are kept.
    """
    if not path.exists():
        return 0
    kept = dropped = 0
    tmp = path.with_name(path.name + ".tmp")
    with open(path, "rb") as src, open_write(tmp, "wb", arg=arg) as out:
        for line in src:
            try:
                rec = json.loads(line)
            except ValueError:
                rec = None
            if isinstance(rec, dict):
                where = rec.get("provenance") if isinstance(rec.get("provenance"), dict) else rec
                if where.get("request_index") in retry and where.get("plan_sha256", plan_sha) == plan_sha:
                    dropped += 1
                    continue
            out.write(line)
            kept += 1
    if dropped:
        tmp.replace(path)  # rename replaces the name itself, never a file a link points to
    else:
        tmp.unlink()
    return kept


def _next_batch(out_dir: Path) -> Path:
    nums = [int(m.group(1)) for p in out_dir.glob("batch_*.jsonl") if (m := re.fullmatch(r"batch_(\d+)\.jsonl", p.name))]
    return out_dir / f"batch_{(max(nums) + 1) if nums else 1:03d}.jsonl"


@tool(starts_job=True, open_world=True)
def generate_batch(params: GenerateBatchParams, *, progress=None) -> GenerateBatchResult:
    """Generate synthetic rows with a teacher LLM from a plan (categories x difficulties x counts).

    The prompt is a jinja2 template (default builtin:prompts/generate_rows.j2) filled with the task
    description, output contract (JSON Schema), cell, edge cases and negative constraints. Calls run
    concurrently with retries and an on-disk cache (re-running a plan makes no calls). Rows go to
    data/generated/batch_NNN.jsonl with provenance (teacher, template hash, category, difficulty, seed,
    created_at); unparsable answers go to batch_NNN.rejected.jsonl. Plans above 50 requests (or as_job=true)
    run as a job; resume_batch continues an interrupted plan. API keys come only from the environment.
    """
    cells, _ = plan_cells(params)
    n_requests = sum(-(-c["count"] // params.rows_per_request) for c in cells)
    to_job = params.as_job or n_requests > JOB_MIN_REQUESTS
    # a job renders its own plan: the call renders one request, to refuse a broken template or schema at once
    first, tpl_sha, _ = build_requests(params, limit=1 if to_job else None)
    out_dir = resolve_path(params.out_dir, arg="out_dir", for_write=True)
    make_dirs(out_dir, arg="out_dir")
    batch = resolve_path(params.resume_batch, arg="resume_batch", for_write=True) if params.resume_batch \
        else _next_batch(out_dir)
    open_write(batch, "a", arg="resume_batch" if params.resume_batch else "out_dir").close()
    if to_job:
        from specialize.tools.job_tools import to_handle

        payload = params.model_copy(update={"as_job": False, "resume_batch": rel(batch)})
        h = to_handle(jobs.start_job("generate_batch", "specialize.tools.generate:generate_worker", payload))
        return GenerateBatchResult(job_id=h.job_id, run_dir=h.run_dir, state=h.state, batch_path=rel(batch),
                                   rejected_path=rel(batch.with_name(batch.stem + ".rejected.jsonl")),
                                   planned_rows=sum(c["count"] for c in cells), requests=n_requests,
                                   template_sha256=tpl_sha)
    return run_plan(params, batch, progress=progress)


def generate_worker(raw: dict[str, Any], ctx: jobs.JobContext) -> dict[str, Any]:
    params = GenerateBatchParams.model_validate(raw)
    batch = resolve_path(params.resume_batch or "", arg="resume_batch", for_write=True)

    def progress(step: int, total: int, message: str | None = None) -> None:
        ctx.progress(step, total, message=message)

    res = run_plan(params, batch, progress=progress)
    ctx.log(f"batch {res.batch_path}: {res.rows} rows, {res.rejected} rejected, {res.usage.http_calls} HTTP calls")
    return res.model_dump()


def run_plan(params: GenerateBatchParams, batch: Path, *, progress: Any = None) -> GenerateBatchResult:
    from specialize.llm.client import ChatRequest, LLMClient
    from specialize.runtime import registry, tracking

    reqs, tpl_sha, info = build_requests(params)
    planned = sum(r["n"] for r in reqs)
    done_path = batch.with_name(batch.stem + ".done.jsonl")
    done: dict[str, int] = {}
    if done_path.exists():
        for line in done_path.read_text().splitlines():
            try:
                rec = json.loads(line)
                done[rec["key"]] = rec.get("rows", 0)
            except (ValueError, KeyError):
                continue
    todo = [r for r in reqs if r["key"] not in done]
    for r in reqs:
        r["response_format"], r["mode"] = _row_format(params, r["output_schema"], r["n"])
    retry = {r["index"] for r in todo}
    arg = "resume_batch" if params.resume_batch else "out_dir"
    _drop_retried(batch.with_name(batch.stem + ".rejected.jsonl"), retry, info["plan_sha256"], arg=arg)
    rows_before = _drop_retried(batch, retry, info["plan_sha256"], arg=arg)
    writer = _Writer(batch, params, tpl_sha, info["plan_sha256"], progress, planned, rows_before)
    client = LLMClient(api_base=params.api_base, concurrency=params.concurrency, max_retries=params.max_retries,
                       timeout_s=params.timeout_s, processes=params.processes)
    chat_reqs = [ChatRequest(model=params.model, messages=r["messages"], temperature=params.temperature,
                             max_tokens=params.max_tokens, seed=r["seed"], response_format=r["response_format"])
                 for r in todo]
    modes = sorted({r["mode"] for r in reqs})
    decoding_mode = modes[0] if len(modes) == 1 else "mixed: " + ", ".join(modes)
    def on_done(i: int, res: Any) -> None:
        if not writer.finish(todo[i], res) and not isinstance(res, Exception):
            client.forget(chat_reqs[i])  # an unusable answer is not kept: the next run asks the teacher again

    client.chat_many(chat_reqs, on_done=on_done)
    st = client.stats
    usage = Usage(requests=st.requests, http_calls=st.http_calls, cache_hits=st.cache_hits, retries=st.retries,
                  failures=st.failures, prompt_tokens=st.prompt_tokens, completion_tokens=st.completion_tokens,
                  cost_usd=round(st.cost_usd, 6), cost_known=st.cost_known)
    stats_path = batch.with_name(batch.stem + ".stats.json")
    write_text(stats_path, json.dumps({"usage": usage.model_dump(), "template_sha256": tpl_sha, **info,
                                      "decoding_mode": decoding_mode,
                                      "planned_rows": planned, "requests": len(reqs)}, indent=2), arg="out_dir")
    version = None
    if writer.rows:
        version = registry.record_dataset(batch, kind="generated", config={
            "teacher": params.model, "template_sha256": tpl_sha, **info, "seed": params.seed})["version"]
    res = GenerateBatchResult(batch_path=rel(batch), rejected_path=rel(writer.rej_path), planned_rows=planned,
                              requests=len(reqs), rows=writer.rows, rejected=writer.rejected,
                              failed_requests=writer.failed, skipped_requests=len(reqs) - len(todo),
                              template_sha256=tpl_sha, usage=usage, version=version,
                              decoding_mode=decoding_mode)
    tracking.log_run("generate_batch", name=batch.stem, params=params.model_dump(mode="json"),
                     result=res.model_dump(mode="json"), datasets={"batch": version, "template": tpl_sha},
                     artifacts={"batch": rel(batch), "rejected": rel(writer.rej_path)})
    return res
