"""validate_rows's fast paths: the worker-process path gives the same files as the in-process one, rows that
once crashed the run are now verdicts, rejected rows keep their original bytes, CRLF files."""

from __future__ import annotations

import json
import random

from specialize.tools.validate import PARALLEL_MIN_ROWS, ValidateRowsParams, validate_rows

from tests.tools.test_validate import chat, reasons, run, sentence, write


def _mixed_rows(n: int, rng: random.Random) -> list:
    rows: list = []
    for i in range(n):
        r = rng.random()
        if rows and r < 0.05:
            rows.append(rng.choice(rows))                                   # exact copy
        elif rows and r < 0.10 and isinstance(rows[-1], dict):
            words = rows[-1]["messages"][0]["content"].split()
            words[rng.randrange(len(words))] = "changed"
            rows.append(chat(" ".join(words), {"category": "billing", "priority": "low"}))  # near copy
        elif r < 0.11:
            rows.append(rng.choice(["{bad", "", "[1]", chat("hi", "x"), chat(sentence(rng) + " the teacher model", "y"),
                                    chat("see {CUSTOMER_NAME} " + sentence(rng, 6), "z")]))
        else:
            rows.append(chat(sentence(rng, 30), {"category": rng.choice(["billing", "refund"]), "priority": "low"},
                             cat=rng.choice(["billing", "refund"])))
    return rows


def test_worker_processes_match_in_process(workspace, monkeypatch):
    from specialize.tools import validate as validate_mod

    monkeypatch.setattr(validate_mod, "JOB_MIN_BYTES", 1 << 40)  # compare in the call; a file this big is a job
    rng = random.Random(7)
    rows = _mixed_rows(PARALLEL_MIN_ROWS + 500, rng)
    write(workspace / "eval.jsonl", [chat(sentence(rng, 30), "e") for _ in range(50)] + [rows[3]])
    one, _, _ = run(workspace, rows, eval_sets=["eval.jsonl"], workers=1, out_dir="one", record_version=False)
    two = validate_rows(ValidateRowsParams(input_path="in.jsonl", eval_sets=["eval.jsonl"], workers=2, out_dir="two",
                                           record_version=False))
    for name in ("accepted.jsonl", "rejected.jsonl"):
        assert (workspace / "one" / name).read_bytes() == (workspace / "two" / name).read_bytes()
    assert one.by_reason == two.by_reason and one.coverage == two.coverage
    assert {"exact_dup", "near_dup", "eval_leak", "json", "trivial", "leak"} <= set(one.by_gate)


def test_rows_that_used_to_abort_the_run(workspace):
    (workspace / "ev.jsonl").write_text('{"messages": 5}\n{"messages": [1, 2]}\n' + "[" * 5000 + "\n"
                                        + json.dumps(chat("an eval ticket about refunds", "x")) + "\n")
    lines = [
        '{"messages": [{"role": "user", "content": "lone \\ud800 surrogate in a ticket"}, '
        '{"role": "assistant", "content": "ok"}]}',
        json.dumps({"messages": [{"role": ["user"], "content": "a list as a role"},
                                 {"role": "assistant", "content": "ok"}]}),
        '{"messages": [{"role": "user", "content": "lone \\udfff again"}, {"role": "assistant", "content": "ok"}], '
        '"x": "\\ud800"}',
    ]
    res, acc, rej = run(workspace, lines, eval_sets=["ev.jsonl"])
    assert reasons(rej) == {2: "format:message_0_bad_role"}
    assert res.accepted == 2


def test_rejected_rows_keep_their_bytes(workspace):
    good = json.dumps(chat("my parcel never arrived at the depot", "shipping"))
    odd = ('{"meta": {"category": 123456789012345678901234567890, "difficulty": NaN}, "messages": '
           '[{"role": "user", "content": "my parcel never arrived at the depot\u2028(line two)"}, '
           '{"role": "assistant", "content": "shipping"}], "zeta": 1, "alpha": 2}')
    # the odd row is a near duplicate of the good one: 7 words (x2) + 6 pairs against 9 words (x2) + 8 pairs,
    # 20 shared -> 20 / 26 = 0.77, so the threshold is set below that
    res, acc, rej = run(workspace, [good, odd, "{not json \u2029 at all"], near_dup_threshold=0.75)
    assert [r["line"] for r in rej] == [2, 3] and rej[1]["gate"] == "json"
    kept = rej[0]["row"]
    assert kept["meta"]["category"] == 123456789012345678901234567890 and list(kept)[-2:] == ["zeta", "alpha"]
    assert kept["messages"][0]["content"].endswith("\u2028(line two)")
    text = (workspace / res.rejected_path).read_text()
    assert "\u2028" not in text and "\u2029" not in text and len(text.splitlines()) == 2


def test_crlf_lines(workspace):
    rng = random.Random(8)
    rows = [json.dumps(chat(sentence(rng), "answer")) for _ in range(3)]
    (workspace / "in.jsonl").write_bytes(("\r\n".join(rows + ["{bad"]) + "\r\n").encode())
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl"))
    assert (res.total, res.accepted) == (4, 3)
    assert (workspace / res.accepted_path).read_bytes() == ("\n".join(rows) + "\n").encode()
    rej = json.loads((workspace / res.rejected_path).read_text())
    assert rej["raw"] == "{bad"


def test_token_counts_with_a_tokenizer(workspace, tiny_model_dir, monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setenv("SPECIALIZE_READ_ROOTS", str(tiny_model_dir))  # a folder outside the workspace, allowed

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rng = random.Random(9)
    rows = []
    for i in range(12):
        row = chat(sentence(rng, 5 + 6 * i), {"category": "billing"})
        if i % 3 == 0:
            row["messages"].insert(0, {"role": "system", "content": "You sort tickets. " * (i + 1)})
        rows.append(row)

    def count(row):
        texts = [m["content"] for m in row["messages"]]
        return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)

    limit = sorted(count(r) for r in rows)[6]
    res, acc, rej = run(workspace, rows, tokenizer=str(tiny_model_dir), max_tokens=limit)
    long = {i + 1: count(r) for i, r in enumerate(rows) if count(r) > limit}
    assert {r["line"]: r["details"]["tokens"] for r in rej} == long and len(long) == 5
    assert all(r["reason"] == "too_long" and r["details"]["counted_by"] == str(tiny_model_dir) for r in rej)


def test_empty_file_against_eval_sets(workspace):
    write(workspace / "ev.jsonl", [chat("an eval ticket about a refund", "x")])
    (workspace / "in.jsonl").write_bytes(b"")
    res = validate_rows(ValidateRowsParams(input_path="in.jsonl", eval_sets=["ev.jsonl"]))
    assert (res.total, res.accepted, res.rejected) == (0, 0, 0)


def test_huge_integers_in_tool_call_arguments_are_read_exactly(workspace):
    call = ('{"messages": [{"role": "user", "content": "refund order number one two three please"}, '
            '{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": '
            '{"name": "refund", "arguments": {"order": %s}}}]}]}')
    big = "123456789012345678901234567890"
    # the same call twice is an exact duplicate; a neighbour of the huge number is another answer to the same
    # input (read as floats, the two numbers would be equal and the third row a duplicate too)
    res, acc, rej = run(workspace, [call % big, call % big, call % (big[:-1] + "1")])
    assert reasons(rej) == {2: "exact_dup:exact_duplicate", 3: "label_consistency:conflicting_label"}
