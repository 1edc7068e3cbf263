"""The four playbooks as one workflow: every path a playbook hands from one tool to the next is a path the
layout defines, the layout's rows are what the tools really write, and each handoff's writer comes before
its reader.

The layout table in small-model-finetuning/references/project-layout.md is the single definition. The data
tools (generate_batch, validate_rows, split_dataset), run_eval, run_pairwise_judge, compare_models and
decide_specialization are run here on tiny inputs (teacher and judge on the fake OpenAI server, named the way
the playbooks name local models: hosted_vllm/<name> with api_base) and their outputs are checked against the
layout. The job tools that train or export (train_qlora, train_dpo, export_gguf) are too heavy for this
suite; their outputs are checked by reading the code that writes them.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from specialize.runtime.catalog import load_all
from specialize.runtime.workspace import skills_root

ORDER = ["model-economics", "training-data-pipeline", "small-model-finetuning", "llm-as-judge-evaluation"]
LAYOUT_DOC = skills_root() / "small-model-finetuning" / "references" / "project-layout.md"
JOBS_DOC = skills_root() / "small-model-finetuning" / "references" / "long-jobs.md"
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
# Arguments that name a file or folder a tool reads (outputs - output, output_dir, out_dir - are not handoffs).
READS = {"dataset", "eval_dataset", "input_path", "golden_path", "eval_set", "eval_sets", "adapter", "source",
         "candidate", "current", "regression_candidate", "regression_current", "frontier", "format_results",
         "responses", "results", "judgments", "plan_path", "schema_path", "seed_examples_path", "resume_batch",
         "human_labels", "eval_reports", "task_card", "system_prompt", "base_model", "model"}
TOP = ("task/", "eval/", "data/", "runs/", "evals/", "judgments/", "reports/", "decisions/", "registry/", "models/")


def _layout() -> list[tuple[str, re.Pattern, set[str], bool]]:
    """(pattern, regex, writer tools, may be written by hand) per row of the layout table."""
    tools = set(load_all())
    text = LAYOUT_DOC.read_text()
    table = text[text.index("## Files and folders"):text.index("## The handoffs")]
    rows = []
    for line in table.splitlines():
        m = re.match(r"\| `([^`]+)` \| (.*?) \|", line)
        if not m:
            continue
        pattern, writer = m.groups()
        rx = re.escape(pattern.rstrip("/"))
        rx = rx.replace("NNN", r"\d{3}").replace("<split>", "(train|dev|test)")
        rx = re.sub(r"<[a-z_]+>", r"[^/]+", rx)
        writers = {w for w in re.findall(r"`([a-z_]+)`", writer) if w in tools}
        if "every job tool" in writer:
            writers = {t for t, spec in load_all().items() if spec.starts_job} | {"generate_batch", "run_eval",
                                                                                  "run_pairwise_judge",
                                                                                  "validate_rows"}
        rows.append((pattern, re.compile(rx + "/?"), writers, writer.startswith("by hand")))
    return rows


LAYOUT = _layout()


def _match(path: str):
    hits = [row for row in LAYOUT if row[1].fullmatch(path)]
    # the most specific row wins (runs/<job_id>/adapter over runs/<job_id>/)
    return max(hits, key=lambda r: len(r[0])) if hits else None


def _calls():
    """Every example tool call of the four playbooks in workflow order: (skill, position, tool, args)."""
    out = []
    for skill in ORDER:
        text = (skills_root() / skill / "SKILL.md").read_text()
        for m in FENCE.finditer(text):
            info = m.group(1).strip()
            if info.startswith("json tool="):
                name = info.removeprefix("json tool=").removesuffix(" alt")
                out.append((skill, m.start(), name, json.loads(m.group(2))))
    return out


def _read_paths(args: dict) -> list[tuple[str, str]]:
    found = []
    for key, value in args.items():
        for v in value if isinstance(value, list) else [value]:
            if key in READS and isinstance(v, str) and v.startswith(TOP):
                found.append((key, v))
    return found


def test_the_layout_is_defined_once_and_linked_from_every_playbook():
    assert len(LAYOUT) >= 25
    for skill in ORDER:
        text = (skills_root() / skill / "SKILL.md").read_text()
        link = ("references/project-layout.md" if skill == "small-model-finetuning"
                else "../small-model-finetuning/references/project-layout.md")
        assert f"]({link})" in text, f"{skill} does not link the project layout"
        assert "## What this playbook hands on" in text, f"{skill} does not name what the next playbook starts from"
        for target in re.findall(r"\]\((\.\./[^)]+)\)", text):
            assert (skills_root() / skill / target).resolve().is_file(), target


def test_every_path_a_playbook_passes_is_in_the_layout_and_written_before_it_is_read():
    texts = {s: (skills_root() / s / "SKILL.md").read_text() for s in ORDER}
    for skill, pos, tool, args in _calls():
        before = "".join(texts[s] for s in ORDER[:ORDER.index(skill)]) + texts[skill][:pos]
        for key, path in _read_paths(args):
            row = _match(path)
            assert row, f"{skill}: {tool}.{key} = {path!r} is not a path of the project layout"
            pattern, _, writers, by_hand = row
            if by_hand:
                continue  # written by hand in a stated step
            assert any(f"`{w}`" in before for w in writers), \
                f"{skill}: {tool}.{key} = {path!r} is written by {sorted(writers)}, which no playbook calls before"
            job = re.match(r"runs/([a-z_]+)-\d{8}-\d{6}-[0-9a-f]{4}(/|$)", path) or \
                re.match(r"runs/<([a-z_]+)\.job_id>(/|$)", path)
            if job and pattern != "runs/<job_id>/":
                assert job.group(1) in writers, f"{skill}: {path!r} is in a {job.group(1)} run, " \
                                                f"but {pattern} is written by {sorted(writers)}"


def test_every_placeholder_names_a_tool_an_earlier_step_called():
    """<tool.field> stands for a field of an earlier answer: that tool must have a step before it, and a job
    handle's field (job_id) or a field of the tool's result model must exist under that name."""
    from specialize.runtime.catalog import load_all
    from specialize.tools.job_tools import JobHandle

    tools = load_all()
    seen: list[str] = []
    for skill, _, tool, args in _calls():
        for value in re.findall(r"<([a-z_]+)\.([a-z_]+)", json.dumps(args)):
            producer, fieldname = value
            assert producer in seen, f"{skill}: {tool} uses <{producer}.{fieldname}> before any {producer} call"
            known = set(JobHandle.model_fields) | set(tools[producer].result.model_fields if
                                                      tools[producer].result else ())
            if producer == "train_qlora":
                from specialize.training.prepare import __file__ as prepare_src

                known |= set(re.findall(r'"([a-z_]+)":', Path(prepare_src).read_text()))
            if producer == "export_gguf":
                from specialize.tools.export import ExportGgufResult

                known |= set(ExportGgufResult.model_fields)
            assert fieldname in known, f"{skill}: {producer} has no answer field {fieldname}"
        seen.append(tool)


def test_the_handoff_table_reads_only_what_an_earlier_step_wrote():
    text = LAYOUT_DOC.read_text()
    table = text[text.index("## The handoffs"):text.index("## Deliverables")]
    written: list[str] = []
    steps = 0
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 4 or not cells[0].isdigit():
            continue
        steps += 1
        for path in re.findall(r"`([^`]+)`", cells[2]):
            if path.startswith(("data/", "runs/", "evals/", "judgments/")):
                base = path.split("{")[0].rstrip("/*")
                assert any(w.startswith(base) or base.startswith(w.rstrip("/")) for w in written) or \
                    (_match(path) and _match(path)[3]), f"step {cells[0]} reads {path}, not written before"
        written += [p.split("{")[0].rstrip("/") for p in re.findall(r"`([^`]+)`", cells[3])]
    assert steps >= 12


def _teacher(body: dict) -> str:
    prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
    if "RESPONSE A" in prompt:
        return json.dumps({"a_scores": {"overall": 4}, "b_scores": {"overall": 3}, "reasoning": "x",
                           "verdict": "A_better"})
    if "Write" in prompt and "examples" in prompt:
        n = int(re.search(r"Write (\d+) new examples", prompt).group(1))
        cat = re.search(r'category "([^"]+)"', prompt).group(1)
        salt = abs(hash(prompt)) % 10_000
        words = ["invoice", "parcel", "refund", "courier", "receipt", "tracking", "charge", "address", "plan"]
        rows = [json.dumps({"input": f"Ticket {salt}-{k} about my {words[(salt + 3 * k) % 9]} and "
                                     f"{words[(salt // 7 + k) % 9]} on day {salt % 31 + k}",
                            "output": {"category": cat}}) for k in range(n)]
        return "\n".join(rows)
    return json.dumps({"category": "billing"})


def _chat(i: int, cat: str, text: str) -> dict:
    return {"id": f"e{i}", "messages": [{"role": "user", "content": text},
                                        {"role": "assistant", "content": json.dumps({"category": cat})}],
            "meta": {"category": cat}}


def test_the_tools_write_where_the_layout_says_and_the_next_call_reads_it(workspace):
    """generate -> join -> validate -> split -> train's inputs; run_eval, judge, compare, decide: real calls."""
    from tests.helpers.fake_openai import FakeOpenAIServer

    tools = load_all()
    calls: dict = {}
    for s, _, t, a in _calls():
        calls.setdefault((s, t), a)  # the first call of each tool is the workflow's
    ws = workspace
    (ws / "task").mkdir()
    (ws / "eval").mkdir()
    (ws / "task" / "schema.json").write_text(json.dumps({
        "type": "object", "additionalProperties": False, "required": ["category"],
        "properties": {"category": {"enum": ["billing", "shipping"]}}}))
    golden = [_chat(i, c, f"Golden question {i}: where is my {w} gone") for i, (c, w) in
              enumerate([("billing", "money"), ("shipping", "box"), ("billing", "card"), ("shipping", "van")])]
    (ws / "eval" / "golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in golden))

    def run(name, **args):
        return tools[name].run(tools[name].params.model_validate(args))

    def check(path: str, tool: str) -> None:
        row = _match(path)
        assert row and tool in row[2], f"{tool} wrote {path}, which the layout gives to {row and row[0]}"
        assert (ws / path).exists(), path

    with FakeOpenAIServer(_teacher) as server:
        local = dict(model="hosted_vllm/teacher", api_base=server.url)
        gen = run("generate_batch", **local, task_description="Route tickets.", schema_path="task/schema.json",
                  categories=["billing", "shipping"], difficulties=["easy"], rows_per_cell=6, rows_per_request=6)
        check(gen.batch_path, "generate_batch")
        gen2 = run("generate_batch", **local, task_description="Route tickets.", schema_path="task/schema.json",
                   categories=["billing", "shipping"], difficulties=["hard"], rows_per_cell=6, rows_per_request=6)
        check(gen2.batch_path, "generate_batch")
        # the stated step: join every batch into data/generated/all.jsonl
        batches = sorted((ws / "data" / "generated").glob("batch_[0-9][0-9][0-9].jsonl"))
        assert len(batches) == 2
        (ws / "data" / "generated" / "all.jsonl").write_text("".join(b.read_text() for b in batches))

        pipeline = "training-data-pipeline"
        v_args = calls[(pipeline, "validate_rows")]
        assert v_args["input_path"] == "data/generated/all.jsonl"
        val = run("validate_rows", input_path=v_args["input_path"], schema_path="task/schema.json",
                  eval_sets=["eval/golden.jsonl"])
        check(val.accepted_path, "validate_rows")
        assert val.accepted > 0 and val.accepted + val.rejected == 24

        s_args = calls[(pipeline, "split_dataset")]
        assert s_args["input_path"] == val.accepted_path, "the split reads another file than validate_rows wrote"
        split = run("split_dataset", input_path=s_args["input_path"], golden_path=s_args["golden_path"], seed=7)
        for name in ("train", "dev", "test"):
            check(split.paths[name], "split_dataset")

        t_args = calls[("small-model-finetuning", "train_qlora")]
        assert t_args["dataset"] == split.paths["train"] and t_args["eval_dataset"] == split.paths["dev"]

        dev = [_chat(i, "billing", f"Dev ticket {i}") for i in range(3)]
        (ws / "eval" / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dev))
        ev = run("run_eval", **local, eval_set="eval/dev.jsonl", task_type="classification", label_field="category")
        check(ev.results_path, "run_eval")
        ev2 = run("run_eval", model="hosted_vllm/base", api_base=server.url, eval_set="eval/dev.jsonl",
                  task_type="classification", label_field="category", output="evals/base-dev.json")
        assert ev2.results_path == "evals/base-dev.json"
        judged = run("run_pairwise_judge", responses=[ev.results_path, ev2.results_path], names=["ft", "base"],
                     judge_model="hosted_vllm/judge", api_base=server.url)
        check(judged.judgments_path, "run_pairwise_judge")
        report = run("compare_models", results=[ev.results_path, ev2.results_path], names=["ft", "base"],
                     judgments=judged.judgments_path)
        check(report.report_path, "compare_models")
        gate = run("release_gate", candidate=ev.results_path, current=ev2.results_path)
        status = {c.name: c.status for c in gate.criteria}
        assert gate.decision == "incomplete" or "fail" in status.values()
        assert "not_measured" in status.values()  # no benchmark or refusal numbers were given, none invented
    decided = run("decide_specialization", monthly_api_spend_usd=3000)
    check(decided.memo_path, "decide_specialization")


def test_job_outputs_in_the_layout_are_what_the_job_code_writes():
    from specialize.runtime import jobs
    from specialize.tools import export, train

    src = inspect.getsource(export)
    for written in ('out / "merged"', 'f"{name}.{q}.gguf"', '"Modelfile"', '"MODEL_CARD.md"', '"export.json"',
                    '"ladder.json"', '"roundtrip.json"'):
        assert written in src, written
    fields = set(export.ExportGgufResult.model_fields)
    assert {"merged_dir", "files", "recommended", "modelfile", "model_card"} <= fields
    assert export.ExportGgufParams.model_fields["keep_merged"].default is True
    assert "runs" in inspect.getsource(jobs.runs_root) and 'f"{kind}-{stamp}-' in inspect.getsource(jobs)
    assert "adapter/" in train.TrainHandle.model_fields["run_dir"].description
    from specialize.training import common

    finish = inspect.getsource(common)
    assert 'adapter = run_dir / "adapter"' in finish and '"adapter_dir": "adapter"' in finish
    layout = {row[0] for row in LAYOUT}
    assert {"runs/<job_id>/adapter/", "runs/<job_id>/merged/", "runs/<job_id>/<name>.<quant>.gguf",
            "runs/<job_id>/Modelfile", "runs/<job_id>/MODEL_CARD.md"} <= layout
    quants = re.search(r"`<quant>`\s+one of ([^.]+)\.", LAYOUT_DOC.read_text().replace("\n", " ")).group(1)
    assert {q.strip() for q in quants.replace(" or ", ",").split(",")} == set(export.FTYPES)


def test_the_job_procedure_matches_the_job_runner():
    from typing import get_args

    from specialize.runtime import jobs
    from specialize.tools import generate, job_tools, judge, validate

    text = " ".join(JOBS_DOC.read_text().split())
    assert "Stop polling at a terminal state**: " + ", ".join(f"`{s}`" for s in jobs.FINAL[:-1]) + \
        f" or `{jobs.FINAL[-1]}`" in text
    active = [s for s in get_args(job_tools.JobState) if s not in jobs.FINAL]
    assert ", ".join(f"`{s}`" for s in active[:-1]) + f" and `{active[-1]}` mean keep polling" in text
    assert f"plans above {generate.JOB_MIN_REQUESTS} requests" in text
    assert f"files over {validate.JOB_MIN_BYTES // 2**20} MB" in text
    assert job_tools.JobLogsParams.model_fields["lines"].metadata[1].le == 2000 and "up to 2000" in text
    assert "job_threshold" in judge.RunPairwiseJudgeParams.model_fields
    for field in ("error", "log_tail", "eta_seconds", "attempts", "result"):
        assert field in job_tools.JobStatus.model_fields and f"`{field}`" in text
    for skill in ORDER[1:]:
        assert "references/long-jobs.md" in (skills_root() / skill / "SKILL.md").read_text(), skill


def test_deliverables_cover_seed_003_and_name_their_producer():
    text = LAYOUT_DOC.read_text()
    table = text[text.index("## Deliverables"):]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| deliverable")]
    names = [r[0] for r in rows if len(r) == 3]
    assert names == ["task spec", "data spec", "output schema", "quality gates", "generation prompt", "eval plan",
                     "baseline report", "train config", "eval report", "model card"]
    tools = set(load_all())
    for name, _, producer in (r for r in rows if len(r) == 3):
        named = set(re.findall(r"`([a-z_]+)`", producer)) & tools
        assert named or "by hand" in producer, f"{name}: no tool and no stated step produces it"


@pytest.mark.parametrize("skill", ORDER)
def test_one_local_model_naming(skill):
    text = (skills_root() / skill / "SKILL.md").read_text()
    for ref in (skills_root() / skill / "references").glob("*.md"):
        text += ref.read_text()
    assert "openai/NAME" not in text
    for m in re.finditer(r"local[^.]{0,120}?server", text):
        sentence = text[m.start():m.start() + 300]
        if "openai/<name>" in sentence:
            assert "hosted_vllm/<name>" in sentence, sentence


def test_facts_the_issue_named():
    import yaml

    from specialize.runtime.workspace import references_root

    default = yaml.safe_load((references_root() / "recipes" / "default.yaml").read_text())
    dpo = yaml.safe_load((references_root() / "recipes" / "dpo.yaml").read_text())
    ratio = default["learning_rate"] / dpo["learning_rate"]
    curves = (skills_root() / "small-model-finetuning" / "references" / "recipe-and-curves.md").read_text()
    skill = (skills_root() / "small-model-finetuning" / "SKILL.md").read_text()
    assert ratio == 4 and "4 times below" in curves and "(4 times lower)" in skill
    assert "halves adapter" not in curves and "10-50" not in curves
    # LoRA adds r x (in + out) per module; SmolLM2-135M: hidden 576, intermediate 1536, kv width 3 x 64
    h, i, kv, layers, r = 576, 1536, 3 * 64, 30, 16
    per_rank = {"q": h + h, "k": h + kv, "v": h + kv, "o": h + h, "gate": h + i, "up": h + i, "down": i + h}
    total, qv = sum(per_rank.values()), per_rank["q"] + per_rank["v"]
    flat = " ".join(curves.split())
    assert f"{total:,} in all, of which q and v are {qv:,}, or {100 * qv / total:.1f}%" in flat
    assert f"{r * qv * layers:,} of {r * total * layers:,} adapter parameters" in flat
    judge = (skills_root() / "llm-as-judge-evaluation" / "SKILL.md").read_text()
    assert "MMLU" not in judge and "capability_checks\": [" not in judge and "\"safety\": {" not in judge
