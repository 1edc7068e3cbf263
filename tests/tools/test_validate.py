"""validate_rows on real files: every gate with its reason code, the accepted+rejected invariant (hypothesis),
near-duplicate clusters, eval leakage, label conflicts, coverage, the judge through a real local HTTP server."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from specialize.tools.validate import ValidateRowsParams, validate_rows

from specialize.runtime import registry
from tests.helpers.fake_openai import FakeOpenAIServer

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["category", "priority"],
          "properties": {"category": {"enum": ["billing", "refund", "shipping"]},
                         "priority": {"enum": ["low", "normal", "high"]}}}
WORDS = ("invoice charge parcel courier refund card account order delivery late twice broken screen "
         "subscription renewal warehouse tracking number address label payment bank statement receipt "
         "discount coupon manager weekend morning evening customer portal password export report").split()


def chat(user: str, out: dict | str, cat: str = "billing", diff: str = "easy") -> dict:
    content = out if isinstance(out, str) else json.dumps(out, separators=(",", ":"))
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": content}],
            "meta": {"category": cat, "difficulty": diff}}


def sentence(rng: random.Random, n: int = 24) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)) + f" ref {rng.randrange(10**9)}"


def write(path, rows) -> None:
    with open(path, "w") as fh:
        for r in rows:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def run(ws, rows, **kw):
    write(ws / "in.jsonl", rows)
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl", **kw))
    acc = [json.loads(x) for x in (ws / res.accepted_path).read_text().splitlines()]
    rej = [json.loads(x) for x in (ws / res.rejected_path).read_text().splitlines()]
    assert res.accepted + res.rejected == res.total == len(rows) == len(acc) + len(rej)
    return res, acc, rej


def reasons(rej):
    return {r["line"]: f"{r['gate']}:{r['reason']}" for r in rej}


def test_each_gate_has_its_reason(workspace):
    rng = random.Random(0)
    (workspace / "schema.json").write_text(json.dumps(SCHEMA))
    good = {"category": "billing", "priority": "low"}
    rows = [
        chat(sentence(rng), good),                                    # 1 ok
        "{not json",                                                  # 2
        "[1, 2]",                                                     # 3
        {"foo": "bar"},                                               # 4 unknown format
        chat(sentence(rng), "Sure! " + json.dumps(good)),             # 5 prose around JSON
        chat(sentence(rng), {"category": "taxes", "priority": "low"}),  # 6 enum
        chat(sentence(rng), {"category": "billing"}),                 # 7 schema (missing priority)
        chat(sentence(rng) + " as the teacher model said", good),     # 8 leak in input
        chat(sentence(rng), "As an AI language model I think " + json.dumps(good)),  # 9 leak/prose
        chat("hi", good),                                             # 10 too short
        chat("refund " * 40, good),                                   # 11 repetitive
        chat("Customer wrote: {CUSTOMER_MESSAGE} about their bill please", good),  # 12 template
        chat(" ".join(f"word{i}" for i in range(3000)), good),        # 13 too long
        "",                                                           # 14 empty line
        chat(sentence(rng), good),                                    # 15 ok
    ]
    rows.append(rows[0])                                              # 16 exact dup of 1
    res, acc, rej = run(workspace, rows, schema_path="schema.json", max_tokens=2000)
    r = reasons(rej)
    assert r[2] == "json:invalid_json" and r[3] == "json:not_an_object" and r[4] == "format:unknown_format"
    assert r[5] == "contract:prose_around_json"
    assert r[6] == "contract:enum_violation" and r[7] == "contract:schema_violation"
    assert r[8] == "leak:leaked_instructions"
    assert r[9].startswith("contract:") or r[9] == "leak:leaked_instructions"
    assert r[10] == "trivial:too_short" and r[11] == "trivial:repetitive" and r[12] == "trivial:template_like"
    assert r[13] == "length:too_long" and r[14] == "json:empty_line"
    assert r[16] == "exact_dup:exact_duplicate"
    assert next(x for x in rej if x["line"] == 16)["details"]["duplicate_of_line"] == 1
    assert res.accepted == 2 and res.by_gate["contract"] >= 3
    entry = registry.find_dataset(res.version)
    assert entry["rows"] == 2 and entry["config"]["schema"] == SCHEMA and entry["parents"]


def test_near_duplicates_cluster_keeps_one_and_names_it(workspace):
    rng = random.Random(1)
    base = [sentence(rng, 40) for _ in range(30)]
    rows = [chat(t, {"category": "billing", "priority": "low"}) for t in base]
    edited = base[3].split()
    edited[5] = "zebra"
    rows.append(chat(" ".join(edited), {"category": "billing", "priority": "low"}))   # line 31 ~ line 4
    edited2 = base[3].split()
    del edited2[20]
    rows.append(chat(" ".join(edited2), {"category": "billing", "priority": "low"}))  # line 32 ~ line 4
    rows.append(chat(" ".join(edited), {"category": "refund", "priority": "high"}))   # line 33 conflict
    res, acc, rej = run(workspace, rows)
    r = reasons(rej)
    assert r[31] == "near_dup:near_duplicate" and r[32] == "near_dup:near_duplicate"
    d = {x["line"]: x["details"] for x in rej}
    assert d[31]["cluster_kept_line"] == 4 and d[32]["cluster_kept_line"] == 4
    assert r[33] == "label_consistency:conflicting_label"
    assert res.accepted == 30
    # flag mode keeps the conflicting row and lists the pair
    res2, _, rej2 = run(workspace, rows, label_conflict_action="flag", out_dir="v2")
    assert 33 not in reasons(rej2) and res2.label_conflicts_flagged >= 1


def test_threshold_is_configurable(workspace):
    rng = random.Random(2)
    a = sentence(rng, 30).split()
    b = list(a)
    for k in (3, 9, 15, 21):
        b[k] = "changed"
    rows = [chat(" ".join(a), "x1 ok"), chat(" ".join(b), "x1 ok")]
    strict, _, _ = run(workspace, rows, near_dup_threshold=0.95, out_dir="s")
    loose, _, rej = run(workspace, rows, near_dup_threshold=0.4, out_dir="l")
    assert strict.accepted == 2 and loose.accepted == 1 and rej[0]["gate"] == "near_dup"


def test_eval_leakage_against_eval_sets(workspace):
    rng = random.Random(3)
    evals = [chat(sentence(rng, 40), {"category": "refund", "priority": "low"}) for _ in range(20)]
    write(workspace / "test.jsonl", evals)
    train = [chat(sentence(rng, 40), {"category": "billing", "priority": "low"}) for _ in range(20)]
    para = evals[5]["messages"][0]["content"].split()
    para[2], para[30] = "hello", "world"
    train += [evals[2],                                                  # exact copy
              chat(" ".join(para), {"category": "refund", "priority": "low"}),  # light paraphrase
              chat(" ".join(evals[7]["messages"][0]["content"].split()[:30]) + " and more words here today",
                   "plain")]                                             # shares long n-grams
    res, acc, rej = run(workspace, train, eval_sets=["test.jsonl"])
    r = reasons(rej)
    assert r[21] == "eval_leak:exact_eval_match"
    assert r[22].startswith("eval_leak:") and r[23].startswith("eval_leak:")
    d = {x["line"]: x["details"] for x in rej}
    assert d[21]["eval_line"] == 3 and d[21]["eval_set"] == "test.jsonl"
    assert res.accepted == 20


def test_formats_and_coverage(workspace):
    rng = random.Random(4)
    (workspace / "plan.yaml").write_text("cells:\n  - {category: billing, difficulty: easy, count: 3}\n"
                                         "  - {category: refund, difficulty: hard, count: 2}\n")
    rows = [
        chat(sentence(rng), "ok answer"),
        {"instruction": "Classify this ticket.", "input": sentence(rng), "output": "billing"},
        {"prompt": sentence(rng), "chosen": "good answer here", "rejected": "bad one"},
        {"prompt": sentence(rng), "chosen": "same", "rejected": "same"},
        {"messages": [{"role": "user", "content": sentence(rng)},
                      {"role": "assistant", "content": None,
                       "tool_calls": [{"type": "function", "function": {"name": "refund", "arguments": "{\"id\": 3}"}}]}],
         "meta": {"category": "refund", "difficulty": "hard"}},
        {"messages": [{"role": "user", "content": sentence(rng)},
                      {"role": "assistant", "content": '{"tool": "refund", "arguments": "oops"}'}]},
        {"messages": [{"role": "robot", "content": "x"}]},
    ]
    res, acc, rej = run(workspace, rows, plan_path="plan.yaml")
    r = reasons(rej)
    assert r == {4: "format:chosen_equals_rejected", 6: "format:tool_call_arguments_not_an_object",
                 7: "format:message_0_bad_role"}
    cov = {(c.category, c.difficulty): c for c in res.coverage}
    assert cov[("billing", "easy")].accepted == 1 and cov[("billing", "easy")].shortfall == 2
    assert cov[("refund", "hard")].accepted == 1
    res2, _, rej2 = run(workspace, rows, expected_format="instruction", out_dir="only-instr")
    assert res2.accepted == 1


def test_binary_and_huge_lines_never_abort(workspace):
    (workspace / "in.jsonl").write_bytes(b"\x00\x01\x02binary\n" + b"\xff\xfe bad utf8\n" +
                                         b'{"a": "' + b"x" * 3_000_000 + b'"}\n' +
                                         json.dumps(chat("a perfectly normal ticket text", "fine")).encode() + b"\n")
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl"))
    rej = [json.loads(x) for x in (workspace / res.rejected_path).read_text().splitlines()]
    assert [x["reason"] for x in rej] == ["binary", "not_utf8", "line_too_large"]
    assert res.accepted == 1 and res.total == 4
    assert len(rej[2]["raw"]) <= 2000


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=30),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=12)
line_strategy = st.one_of(
    st.binary(max_size=200).filter(lambda b: b"\n" not in b and b"\r" not in b),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x85\u2028\u2029"),
            max_size=200).map(lambda s: s.encode("utf-8")),
    json_values.map(lambda v: json.dumps(v, ensure_ascii=False).encode()),
    st.builds(lambda u, a: json.dumps(chat(u, a), ensure_ascii=False).encode(),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120),
              st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=40)),
    st.integers(1200, 5000).map(lambda n: b'{"k": "' + "\u00e9\u4e2d\U0001F600".encode() * n + b'"}'),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(line_strategy, min_size=1, max_size=25))
def test_invariant_holds_for_any_input(workspace, lines):
    data = b"\n".join(lines) + b"\n"
    (workspace / "fuzz.jsonl").write_bytes(data)
    write(workspace / "eval.jsonl", [chat("a short eval ticket", "x"), chat("hi", "y")])
    res = validate_rows(ValidateRowsParams(input_path="fuzz.jsonl", max_line_bytes=4096, record_version=False,
                                           eval_sets=["eval.jsonl"], min_input_chars=0))
    acc = (workspace / res.accepted_path).read_bytes().splitlines()
    rej = (workspace / res.rejected_path).read_text().splitlines()
    expected = len(data.split(b"\n")) - 1
    assert res.total == expected and len(acc) + len(rej) == expected
    lines_seen = sorted(json.loads(x)["line"] for x in rej)
    assert len(set(lines_seen)) == len(lines_seen)


def test_tiny_inputs_against_eval_sets(workspace):
    write(workspace / "ev.jsonl", [chat("my card was charged twice today", "x")])
    res, acc, rej = run(workspace, [chat("my card was charged twice today", "x"), chat("short one", "y")],
                        eval_sets=["ev.jsonl"])
    assert reasons(rej) == {1: "eval_leak:exact_eval_match"} and res.accepted == 1


def test_judge_reviews_rows_over_real_http(workspace):
    def responder(body):
        prompt = body["messages"][-1]["content"]
        if "WRONG" in prompt:
            scores = dict(realism=5, correctness=2, format=5, difficulty=4, diversity=4, learnability=4, safety=5)
        elif "GARBLE" in prompt:
            return "I refuse to answer in JSON"
        else:
            scores = dict(realism=4, correctness=5, format=5, difficulty=4, diversity=4, learnability=4, safety=5)
        return "```json\n" + json.dumps({"decision": "accept", "scores": scores, "reason": "r"}) + "\n```"

    rng = random.Random(5)
    rows = [chat(sentence(rng) + " fine", "answer one"), chat(sentence(rng) + " WRONG", "answer two"),
            chat(sentence(rng) + " GARBLE", "answer three")]
    with FakeOpenAIServer(responder) as server:
        res, acc, rej = run(workspace, rows, judge_model="openai/judge", judge_api_base=server.url)
        assert server.counters.requests == 3
    r = reasons(rej)
    assert r == {2: "judge:judge_reject", 3: "judge:judge_unparsable"}
    assert "correctness 2 < 4" in rej[0]["details"]["why"]


@pytest.mark.parametrize("scores,ok", [
    (dict(realism=4, correctness=4, format=5, difficulty=3, diversity=3, learnability=3, safety=4), True),
    (dict(realism=3, correctness=4, format=5, difficulty=3, diversity=3, learnability=3, safety=4), False),
    (dict(realism=5, correctness=5, format=4, difficulty=5, diversity=5, learnability=5, safety=5), False),
    (dict(realism=5, correctness=5, format=5, difficulty=5, diversity=5, learnability=5, safety=3), False),
])
def test_acceptance_rule(scores, ok):
    from specialize.data.row_review import decide, load_rubric

    assert decide(scores, load_rubric())[0] is ok


def test_runs_as_a_job(workspace):
    from specialize.runtime import jobs

    rng = random.Random(6)
    write(workspace / "in.jsonl", [chat(sentence(rng), "answer") for _ in range(50)] + ["{bad"])
    handle = validate_rows(ValidateRowsParams(input_path="in.jsonl", as_job=True))
    assert handle.job_id and handle.accepted_path is None
    status = jobs.wait(handle.job_id, timeout=60)
    assert status["state"] == "succeeded", status
    assert status["result"]["accepted"] == 50 and status["result"]["rejected"] == 1
    assert (workspace / status["result"]["accepted_path"]).read_text().count("\n") == 50


def test_slow_passes_turn_a_small_file_into_a_job(workspace):
    """With the LLM judge on, a 100 KB file is a job (the call would otherwise block for minutes); the same
    file without it is validated in the call."""
    from specialize.runtime import jobs
    from specialize.tools import validate as v

    rng = random.Random(7)
    rows = []
    while sum(len(json.dumps(r)) + 1 for r in rows) < v.JOB_MIN_BYTES_SLOW + 20_000:
        rows.append(chat(sentence(rng), "answer"))
    write(workspace / "in.jsonl", rows)
    assert v.JOB_MIN_BYTES_SLOW < (workspace / "in.jsonl").stat().st_size < v.JOB_MIN_BYTES
    plain = validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="plain"))
    assert plain.job_id is None and plain.total == len(rows)
    with FakeOpenAIServer(lambda req: '{"scores": {}, "verdict": "accept"}') as server:
        handle = validate_rows(ValidateRowsParams(input_path="in.jsonl", out_dir="judged", judge_model="openai/j",
                                                  judge_api_base=server.url))
        assert handle.job_id and handle.accepted_path is None
        jobs.cancel(handle.job_id)
        jobs.wait(handle.job_id, timeout=60)
