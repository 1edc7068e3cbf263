"""run_classical_baseline on a hand-made toy task whose labels each follow one keyword; expected numbers by hand.

The toy: the category is set by one word (invoice / parcel / password), needs_human by the word "lawyer", the
product by the product's name (or null when none is named), and the channel field has one class in training.
Filler phrases are shared by every class, so only the keyword separates them.
"""

from __future__ import annotations

import json

from specialize.tools.classical import RunClassicalBaselineParams, run_classical_baseline
from specialize.tools.compare import CompareModelsParams, compare_models
from specialize.tools.evaluate import RunEvalParams, run_eval
from specialize.tools.release import ReleaseGateParams, release_gate

from tests.helpers.fake_openai import FakeOpenAIServer

SCHEMA = {"type": "object", "additionalProperties": False,
          "required": ["category", "product", "needs_human", "channel"],
          "properties": {"category": {"type": "string", "enum": ["billing", "shipping", "account"]},
                         "product": {"type": ["string", "null"], "minLength": 1},
                         "needs_human": {"type": "boolean"},
                         "channel": {"type": "string", "enum": ["email", "chat"]}}}
KEYWORD = {"billing": "invoice", "shipping": "parcel", "account": "password"}
FILLERS = ["hello team, a question about my {k}", "good morning, the {k} is giving me trouble",
           "please help with the {k} today", "hi, writing again about the {k}", "quick one: what about my {k}?",
           "thanks in advance, it is the {k} again", "we need an answer on the {k} soon",
           "sorry to bother you, {k} issue"]
PRODUCTS = ["Ledgerly", "Rosterly", None]


def _row(rid, text, answer):
    return {"id": rid, "messages": [{"role": "user", "content": text},
                                    {"role": "assistant", "content": json.dumps(answer)}], "meta": {}}


def _ticket(cat, filler, product, lawyer):
    text = filler.format(k=KEYWORD[cat])
    if product:
        text += f" in {product}"
    if lawyer:
        text += ", my lawyer is copied"
    return text


def _train_rows():
    rows = []
    for c, cat in enumerate(KEYWORD):
        for f, filler in enumerate(FILLERS):
            product = PRODUCTS[(c + f) % 3]
            lawyer = (c + f) % 2 == 0
            rows.append(_row(f"tr-{cat}-{f}", _ticket(cat, filler, product, lawyer),
                             {"category": cat, "product": product, "needs_human": lawyer, "channel": "email"}))
    return rows


# Held-out items: new wording around the same keywords; one reference uses the channel training never saw.
HELD_OUT = [("billing", "Dear support, my invoice from last month", "Ledgerly", False, "email"),
            ("billing", "The invoice total looks odd", None, True, "email"),
            ("billing", "Could you resend the invoice", "Rosterly", False, "chat"),
            ("shipping", "Where is my parcel", None, False, "email"),
            ("shipping", "The parcel arrived damaged", "Ledgerly", True, "email"),
            ("shipping", "Parcel tracking stopped updating", "Rosterly", False, "email"),
            ("account", "I cannot reset my password", "Rosterly", False, "email"),
            ("account", "My password expired", None, True, "email"),
            ("account", "Password change keeps failing", "Ledgerly", False, "email")]


def _eval_rows():
    rows = []
    for i, (cat, text, product, lawyer, channel) in enumerate(HELD_OUT):
        ticket = text + (f" in {product}" if product else "") + (", my lawyer is copied" if lawyer else "")
        rows.append(_row(f"ev-{i}", ticket, {"category": cat, "product": product, "needs_human": lawyer,
                                             "channel": channel}))
    return rows


def _setup(ws, extra_train=""):
    (ws / "schema.json").write_text(json.dumps(SCHEMA))
    (ws / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _train_rows()) + extra_train)
    (ws / "eval.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _eval_rows()))


def _params(**kw):
    return RunClassicalBaselineParams(**{"train_path": "train.jsonl", "eval_set": "eval.jsonl",
                                         "schema_path": "schema.json", "task_type": "extraction",
                                         "label_field": "category", "critical_fields": ["category", "needs_human"],
                                         "output": "evals/classical.json", **kw})


def test_separable_toy_task_is_learned_scored_and_its_one_class_field_kept(workspace):
    _setup(workspace)
    res = run_classical_baseline(_params())
    assert res.n == 9 and res.rejected == 0 and res.train_rows == 24 and res.train_used == 24
    assert not res.train_skipped
    # Every category, product and needs_human right; channel right on 8 of 9 (one reference says "chat").
    assert res.metrics.accuracy == 1.0
    assert res.field_accuracy == {"category": 1.0, "product": 1.0, "needs_human": 1.0, "channel": 8 / 9}
    assert res.primary_metric == "critical_field_accuracy" and res.metrics.critical_field_accuracy == 1.0
    assert abs(res.metrics.exact_match - 8 / 9) < 1e-12
    assert res.metrics.schema_pass_rate == 1.0
    by_field = {f.field: f for f in res.fields}
    assert by_field["product"].classes == ["Ledgerly", "Rosterly", None]  # null is a class of its own
    assert by_field["needs_human"].classes == [False, True]
    # channel has one class in training: it is predicted for every item, and the result says why.
    channel = by_field["channel"]
    assert channel.constant and channel.classes == ["email"] and channel.train_rows == 24
    assert "one class" in channel.note
    assert not any(f.constant for f in res.fields if f.field != "channel")

    doc = json.loads((workspace / res.results_path).read_text())
    assert doc["kind"] == "eval_results" and doc["model"]["kind"] == "classical" and doc["n"] == 9
    lo, hi = doc["metrics"]["exact_match_ci"]
    assert lo < 8 / 9 <= hi  # a bootstrap CI around a rate that is not 0 or 1 has width
    wrong = [e for e in doc["examples"] if not e["exact_match"]]
    assert [e["id"] for e in wrong] == ["ev-2"] and wrong[0]["error_type"] == "wrong_channel"
    assert json.loads(doc["examples"][0]["prediction"]) == {"category": "billing", "product": "Ledgerly",
                                                             "needs_human": False, "channel": "email"}
    prov = doc["provenance"]
    import hashlib

    assert prov["train_set"]["sha256"] == hashlib.sha256((workspace / "train.jsonl").read_bytes()).hexdigest()
    assert prov["train_set"]["rows"] == 24 and prov["features"]["kind"] == "tf-idf"
    assert prov["classifier"]["kind"] == "logistic_regression"


def test_unusable_training_rows_are_reported_not_dropped(workspace):
    bad = ("this line is not json\n"
           + json.dumps(_row("bad-json", "my invoice", None) | {"messages": [
               {"role": "user", "content": "my invoice"}, {"role": "assistant", "content": "{category: billing"}]})
           + "\n"
           + json.dumps(_row("bad-enum", "a refund for my invoice", {"category": "refunds", "product": None,
                                                                     "needs_human": False, "channel": "email"}))
           + "\n")
    _setup(workspace, extra_train=bad)
    res = run_classical_baseline(_params())
    assert res.train_rows == 27 and res.train_used == 25
    skipped = {(s.line, s.id): s.reason for s in res.train_skipped}
    assert set(skipped) == {(25, None), (26, "bad-json")}
    assert skipped[(25, None)].startswith("not JSON")
    assert "unparsable" in skipped[(26, "bad-json")]
    # The row with a category outside the enum still teaches the other fields.
    by_field = {f.field: f for f in res.fields}
    assert by_field["category"].rows_left_out == 1 and by_field["category"].train_rows == 24
    assert by_field["product"].train_rows == 25
    doc = json.loads((workspace / res.results_path).read_text())
    left = next(f for f in doc["provenance"]["fields"] if f["field"] == "category")["left_out"]
    assert left[0]["id"] == "bad-enum" and "not one of" in left[0]["reason"]


def test_results_file_is_a_candidate_and_a_baseline_for_gate_and_compare(workspace):
    _setup(workspace)
    classical = run_classical_baseline(_params()).results_path
    # A scripted model that always answers billing: its category is right on the 3 billing items only.
    always = json.dumps({"category": "billing", "product": None, "needs_human": False, "channel": "email"})
    with FakeOpenAIServer(lambda body: always) as server:
        majority = run_eval(RunEvalParams(model="openai/majority", api_base=server.url, eval_set="eval.jsonl",
                                          task_type="extraction", schema_path="schema.json", label_field="category",
                                          critical_fields=["category", "needs_human"],
                                          output="evals/majority.json")).results_path
    gate = release_gate(ReleaseGateParams(candidate=classical, current=majority, metric="accuracy"))
    tm = next(c for c in gate.criteria if c.name == "task_metric")
    # 6 items gained (the non-billing ones), none lost. The gate tests the gain against its margin with an
    # exact unconditional test, which can only be stronger evidence than the conditional McNemar bound 0.5 ** 6.
    assert tm.status == "pass" and abs(tm.values.diff - 6 / 9) < 1e-12
    assert 0 < tm.values.p_value <= 0.5 ** 6
    back = release_gate(ReleaseGateParams(candidate=majority, current=classical, metric="accuracy"))
    assert next(c for c in back.criteria if c.name == "task_metric").status == "fail"

    out = compare_models(CompareModelsParams(results=[majority, classical], names=["majority", "tf-idf"],
                                             output_dir="reports/cmp"))
    assert out.best_model == "tf-idf"
    text = (workspace / out.report_path).read_text()
    assert "tf-idf" in text and "self-hosted (classical)" in text
