"""Checks on the bundled example task `builtin:tasks/support-triage/`: files, row format, labels, splits."""

from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations
from pathlib import Path

import jsonschema
import pytest
import yaml

from specialize.runtime.workspace import resolve_path

SPLITS = {
    # name: (path inside the task folder, id prefix, min rows, max rows)
    "seeds": ("seeds.jsonl", "seed", 130, 170),
    "dev": ("eval/dev.jsonl", "dev", 35, 50),
    "test": ("eval/test.jsonl", "test", 35, 50),
    "golden": ("eval/golden.jsonl", "golden", 35, 50),
    "adversarial": ("eval/adversarial.jsonl", "adv", 20, 35),
}
META_KEYS = {"category", "difficulty", "language", "length", "source"}


@pytest.fixture(scope="module")
def task_dir(monkeypatch_module) -> Path:
    schema = resolve_path("builtin:tasks/support-triage/schema.json", arg="x", must_exist=True)
    return schema.parent


@pytest.fixture(scope="module")
def monkeypatch_module(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("SPECIALIZE_WORKSPACE", str(tmp_path_factory.mktemp("ws")))
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def card(task_dir) -> dict:
    return yaml.safe_load((task_dir / "task.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def schema(task_dir) -> dict:
    return json.loads((task_dir / "schema.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def splits(task_dir) -> dict[str, list[dict]]:
    out = {}
    for name, (rel, _, _, _) in SPLITS.items():
        lines = (task_dir / rel).read_text(encoding="utf-8").splitlines()
        assert lines, f"{rel} is empty"
        out[name] = [json.loads(line) for line in lines]  # a bad line fails here with its error
    return out


def _ticket(row: dict) -> str:
    return row["messages"][0]["content"]


def _answer(row: dict) -> dict:
    return json.loads(row["messages"][1]["content"])


def test_builtin_paths_resolve(monkeypatch_module):
    for rel in ["schema.json", "task.md", "task.yaml", "system_prompt.txt", "better_prompt.txt", "seeds.jsonl",
                *(p for p, *_ in SPLITS.values())]:
        path = resolve_path(f"builtin:tasks/support-triage/{rel}", arg="x", must_exist=True)
        assert path.is_file() and path.stat().st_size > 0, rel


def test_schema_is_valid_and_matches_card(schema, card):
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert schema["required"] == card["output_keys"] == ["category", "priority", "product", "needs_human"]
    assert schema["properties"]["category"]["enum"] == card["categories"]
    assert len(card["categories"]) == 8
    assert schema["properties"]["priority"]["enum"] == card["priorities"] == ["low", "normal", "high", "urgent"]
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"category": "billing", "priority": "low", "product": None, "needs_human": True,
                                   "reason": "extra"})
    assert not validator.is_valid({"category": "billing", "priority": "low", "product": None})
    assert not validator.is_valid({"category": "sales", "priority": "low", "product": None, "needs_human": True})


def test_card_fields_and_generation_plan(card, task_dir):
    assert card["task_type"] == "json_extraction"
    assert card["label_field"] == "category"
    assert set(card["critical_fields"]) == {"category", "priority", "needs_human"}
    assert card["difficulties"] == ["easy", "medium", "hard"]
    for rel in [card["schema"], card["spec"], card["seeds"], *card["prompts"].values(), *card["eval"].values()]:
        assert (task_dir / rel).is_file(), rel
    plan = card["generation_plan"]
    cells = plan["cells"]
    assert sum(c["count"] for c in cells) == plan["total"]
    assert 56 <= plan["total"] <= 72
    assert {(c["category"], c["difficulty"]) for c in cells} == {
        (cat, d) for cat in card["categories"] for d in card["difficulties"]}
    assert abs(sum(plan["languages"].values()) - 1.0) < 1e-9
    assert plan["required_edge_cases"] and plan["negative_constraints"]


def test_task_md_sections_and_lock(task_dir):
    text = (task_dir / "task.md").read_text(encoding="utf-8")
    for heading in ["Goal", "Inputs", "Output contract", "Non-goals", "Failure modes", "Metrics",
                    "Deployment target", "Cost and latency targets"]:
        assert re.search(rf"^## {heading}", text, flags=re.M), heading
    assert "LOCKED" in text and "eval/golden.jsonl" in text


def test_row_format_and_labels(splits, schema, card):
    validator = jsonschema.Draft202012Validator(schema)
    products = set(card["products"])
    for name, rows in splits.items():
        prefix = SPLITS[name][1]
        for row in rows:
            rid = row["id"]
            assert set(row) == {"id", "messages", "meta"}, rid
            assert re.fullmatch(rf"{prefix}-\d{{3}}", rid), rid
            roles = [m["role"] for m in row["messages"]]
            assert roles == ["user", "assistant"], rid
            assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in row["messages"])
            raw = row["messages"][1]["content"]
            answer = json.loads(raw)
            errors = [e.message for e in validator.iter_errors(answer)]
            assert not errors, f"{rid}: {errors}"
            assert list(answer) == card["output_keys"], rid
            assert raw == json.dumps(answer, ensure_ascii=False), f"{rid}: answer is not compact JSON"
            assert answer["product"] is None or answer["product"] in products, rid
            meta = row["meta"]
            expected_keys = META_KEYS | ({"attack"} if name == "adversarial" else set())
            assert set(meta) == expected_keys, rid
            assert meta["category"] == answer["category"], rid
            assert meta["difficulty"] in card["difficulties"], rid
            assert meta["language"] in card["languages"], rid
            assert meta["length"] in {"short", "medium", "long"}, rid
            assert meta["source"] == "hand-written", rid
            if answer["category"] == "refund" or answer["priority"] == "urgent":
                assert answer["needs_human"] is True, f"{rid}: refund/urgent rows must need a human"


def test_counts_and_balance(splits, card):
    for name, rows in splits.items():
        lo, hi = SPLITS[name][2:]
        assert lo <= len(rows) <= hi, (name, len(rows))
    seed_cats = Counter(r["meta"]["category"] for r in splits["seeds"])
    assert set(seed_cats) == set(card["categories"])
    assert min(seed_cats.values()) >= 12, seed_cats
    assert max(seed_cats.values()) <= 2.5 * min(seed_cats.values()), seed_cats
    for name in ["dev", "test", "golden"]:
        cats = Counter(r["meta"]["category"] for r in splits[name])
        assert set(cats) == set(card["categories"]), (name, cats)
    seed_diff = Counter(r["meta"]["difficulty"] for r in splits["seeds"])
    assert all(seed_diff[d] >= 20 for d in card["difficulties"]), seed_diff
    nulls = sum(_answer(r)["product"] is None for r in splits["seeds"])
    assert nulls >= 15
    lengths = Counter(r["meta"]["length"] for r in splits["seeds"])
    assert lengths["short"] >= 30 and lengths["long"] >= 8, lengths
    for field, values in [("priority", card["priorities"]), ("needs_human", [True, False])]:
        seen = {_answer(r)[field] for r in splits["seeds"]}
        assert seen == set(values), field


def test_languages(splits):
    all_langs = Counter(r["meta"]["language"] for rows in splits.values() for r in rows)
    assert len(all_langs) >= 5, all_langs
    assert all_langs.most_common(1)[0][0] == "en"
    assert len({r["meta"]["language"] for r in splits["seeds"]}) >= 5
    for name in ["dev", "test", "golden", "adversarial"]:
        assert len({r["meta"]["language"] for r in splits[name]}) >= 3, name


def test_ids_unique_and_golden_separate(splits):
    ids = [r["id"] for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids))
    assert not {r["id"] for r in splits["golden"]} & {r["id"] for r in splits["seeds"]}


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_no_duplicate_or_near_duplicate_inputs(splits):
    seen: dict[str, str] = {}
    for rows in splits.values():
        for r in rows:
            key = _norm(_ticket(r))
            if not key:  # empty and whitespace-only tickets are deliberate adversarial rows
                continue
            assert key not in seen, f"{r['id']} repeats {seen[key]}"
            seen[key] = r["id"]
    items = [(r["id"], _shingles(_ticket(r))) for rows in splits.values() for r in rows]
    items = [(rid, sh) for rid, sh in items if len(sh) >= 4]
    for (a, sa), (b, sb) in combinations(items, 2):
        jac = len(sa & sb) / len(sa | sb)
        assert jac < 0.5, f"{a} and {b} are near-duplicates (word-trigram Jaccard {jac:.2f})"


def test_adversarial_coverage(splits, card):
    rows = splits["adversarial"]
    kinds = Counter(r["meta"]["attack"] for r in rows)
    assert set(kinds) <= set(card["attack_kinds"])
    assert {"injection", "format_break", "empty", "huge"} <= set(kinds), kinds
    assert kinds["injection"] >= 5
    huge = [r for r in rows if r["meta"]["attack"] == "huge"]
    assert max(len(_ticket(r)) for r in huge) >= 6000
    assert all(len(_ticket(r)) <= 16000 for r in rows)
    assert any(not _ticket(r).strip() for r in rows if r["meta"]["attack"] == "empty")
    assert len({r["meta"]["language"] for r in rows}) >= 3
    injected = [r for r in rows if r["meta"]["attack"] == "injection"]
    assert any(re.search(r"ignore (all |the )?(previous|prior|above)", _ticket(r), re.I) for r in injected)


def test_prompts_mention_every_label(task_dir, card):
    for rel in card["prompts"].values():
        text = (task_dir / rel).read_text(encoding="utf-8")
        for value in card["categories"] + card["priorities"] + card["products"]:
            assert value in text, (rel, value)


def test_prompt_examples_are_not_eval_rows(task_dir, splits):
    better = (task_dir / "better_prompt.txt").read_text(encoding="utf-8")
    quoted = re.findall(r'^Ticket: "(.+)"$', better, flags=re.M)
    assert len(quoted) >= 2
    eval_rows = [r for name, rows in splits.items() if name != "seeds" for r in rows]
    for q in quoted:
        words = set(re.findall(r"\w+", q.lower()))
        for r in eval_rows:
            other = set(re.findall(r"\w+", _ticket(r).lower()))
            assert len(words & other) / len(words | other) < 0.4, (q, r["id"])
