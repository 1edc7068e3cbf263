"""split_dataset on real files: ratios, determinism, grouping by field and by near-duplicate cluster,
the locked golden set, registry versions; formats: HF Dataset export and chat-template rendering."""

from __future__ import annotations

import json
import os
import random

import pytest
from specialize.tools.split import SplitDatasetParams, split_dataset

from specialize.data.formats import render_chat, to_hf_dataset
from specialize.runtime import registry

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def make_rows(n, seed=0, scenario_every=None, prefix="r"):
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(20)) + f" case {i} {rng.randrange(10**9)}"
        meta = {"category": "x", "difficulty": "easy"}
        if scenario_every:
            meta["scenario"] = f"s{i // scenario_every}"
        rows.append({"id": f"{prefix}{i}", "messages": [{"role": "user", "content": text},
                                                 {"role": "assistant", "content": "ok"}], "meta": meta})
    return rows


def write(ws, name, rows):
    (ws / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def ids(ws, path):
    return [json.loads(x)["id"] for x in (ws / path).read_text().splitlines()]


def test_default_and_small_ratios_and_determinism(workspace):
    write(workspace, "big.jsonl", make_rows(1200))
    res = split_dataset(SplitDatasetParams(input_path="big.jsonl", group_near_duplicates=False))
    assert res.ratios == [0.8, 0.1, 0.1]
    assert sum(res.counts.values()) == 1200 and abs(res.counts["train"] - 960) <= 1
    again = split_dataset(SplitDatasetParams(input_path="big.jsonl", group_near_duplicates=False, out_dir="again"))
    assert ids(workspace, res.paths["test"]) == ids(workspace, again.paths["test"])
    other = split_dataset(SplitDatasetParams(input_path="big.jsonl", group_near_duplicates=False, seed=9,
                                             out_dir="other"))
    assert ids(workspace, res.paths["test"]) != ids(workspace, other.paths["test"])
    write(workspace, "small.jsonl", make_rows(200))
    small = split_dataset(SplitDatasetParams(input_path="small.jsonl"))
    assert small.ratios == [0.7, 0.15, 0.15] and small.counts["test"] == 30
    entry = registry.find_dataset(small.versions["train"])
    assert entry["kind"] == "split:train" and entry["parents"] and entry["rows"] == small.counts["train"]


def test_groups_never_straddle_splits(workspace):
    rows = make_rows(300, seed=1, scenario_every=7)
    # near-duplicates of row 10 with no scenario in common
    for k in range(4):
        r = json.loads(json.dumps(rows[10]))
        r["id"], r["meta"]["scenario"] = f"dup{k}", f"lonely{k}"
        r["messages"][0]["content"] += f" extra{k}"
        rows.append(r)
    write(workspace, "g.jsonl", rows)
    res = split_dataset(SplitDatasetParams(input_path="g.jsonl", group_by="meta.scenario"))
    where = {}
    for name, path in res.paths.items():
        for line in (workspace / path).read_text().splitlines():
            row = json.loads(line)
            where.setdefault(row["meta"]["scenario"], set()).add(name)
            where.setdefault("id:" + row["id"], set()).add(name)
    assert all(len(v) == 1 for k, v in where.items() if not k.startswith("id:"))
    home = where["id:r10"]
    assert all(where[f"id:dup{k}"] == home for k in range(4))
    assert res.groups < 300


def test_locked_golden_set_is_never_touched(workspace):
    rows = make_rows(400, seed=2)
    write(workspace, "a.jsonl", rows)
    first = split_dataset(SplitDatasetParams(input_path="a.jsonl", golden_path="data/eval/golden.jsonl",
                                             golden_size=40))
    golden = workspace / "data/eval/golden.jsonl"
    gids = set(ids(workspace, "data/eval/golden.jsonl"))
    assert len(gids) == first.golden_rows >= 40
    assert not os.access(golden, os.W_OK) or os.geteuid() == 0
    assert not (os.stat(golden).st_mode & 0o222)
    entry = registry.find_dataset(first.versions["golden"])
    assert entry["locked"] is True and entry["kind"] == "golden"
    split_ids = set().union(*(ids(workspace, p) for p in first.paths.values()))
    assert not split_ids & gids and len(split_ids) + len(gids) == 400
    before = golden.read_bytes()
    # a later split of a new set holding golden rows (one lightly edited) keeps all of them out
    later = rows + make_rows(100, seed=3, prefix="new")
    g0 = next(r for r in rows if r["id"] in gids)
    edited = json.loads(json.dumps(g0))
    edited["id"] = "edited-golden"
    edited["messages"][0]["content"] += " thanks"
    write(workspace, "b.jsonl", later + [edited])
    second = split_dataset(SplitDatasetParams(input_path="b.jsonl", golden_path="data/eval/golden.jsonl",
                                              golden_size=40, out_dir="s2"))
    assert golden.read_bytes() == before
    ids2 = set().union(*(ids(workspace, p) for p in second.paths.values()))
    assert not ids2 & gids and "edited-golden" not in ids2
    assert second.golden_excluded == len(gids) + 1
    assert second.versions["train"] and entry["version"] in registry.find_dataset(second.versions["train"])["parents"]


def test_hf_dataset_and_chat_rendering(workspace, tiny_model_dir):
    rows = make_rows(5)
    rows.append({"instruction": "Classify.", "input": "card charged twice", "output": "billing"})
    write(workspace, "f.jsonl", rows)
    ds = to_hf_dataset(workspace / "f.jsonl")
    assert len(ds) == 6 and ds[0]["messages"][1]["content"] == "ok"
    pytest.importorskip("transformers")
    from specialize.data.formats import load_tokenizer

    tok = load_tokenizer(str(tiny_model_dir))
    text = render_chat(rows[0], tok)
    assert rows[0]["messages"][0]["content"] in text and "ok" in text
    prompt = render_chat(rows[-1], tok, prompt_only=True)
    assert "card charged twice" in prompt and not prompt.rstrip().endswith("billing")


def test_bundled_golden_set_is_used_read_only(workspace):
    """A locked golden set shipped as package data is read, never written, and its rows stay out."""
    import json as _json

    from specialize.tools.split import SplitDatasetParams, split_dataset

    from specialize.runtime.workspace import resolve_path

    golden = resolve_path("builtin:tasks/support-triage/eval/golden.jsonl", arg="g", must_exist=True)
    first = golden.read_text().splitlines()[0]
    rows = [first] + [_json.dumps({"messages": [{"role": "user", "content": f"distinct ticket number {i} about "
                                                 f"topic {i * 7} and thing {i * 13}"},
                                                {"role": "assistant", "content": "{}"}]}) for i in range(30)]
    (workspace / "in.jsonl").write_text("\n".join(rows) + "\n")
    before = golden.read_bytes()
    res = split_dataset(SplitDatasetParams(input_path="in.jsonl",
                                           golden_path="builtin:tasks/support-triage/eval/golden.jsonl"))
    assert res.golden_excluded == 1 and sum(res.counts.values()) == 30
    assert golden.read_bytes() == before


def test_near_duplicates_are_grouped_with_validate_rows_similarity(workspace):
    """The grouping uses validate_rows's normalised similarity: a ticket and its copy with other punctuation,
    spacing and number format (normalised words identical; the former raw 3-word shingles share 8 of 12 and 15,
    Jaccard 8 / 19 = 0.42, below the default 0.6) stay in one split; the same ticket about another order is not
    pulled in (numbers are facts)."""
    base = "Since 9am UTC, production is down and the checkout returns errors for order 48213."
    copy = "Since 9 am UTC - production is down and the checkout returns errors for order no. 48,213!"
    other = "Since 9am UTC, production is down and the checkout returns errors for order 77120."
    rows = make_rows(120, seed=4)
    for k, text in enumerate((base, copy, other)):
        rows.append({"id": f"t{k}", "messages": [{"role": "user", "content": text},
                                                 {"role": "assistant", "content": "ok"}],
                     "meta": {"category": "x", "difficulty": "easy"}})
    write(workspace, "t.jsonl", rows)
    res = split_dataset(SplitDatasetParams(input_path="t.jsonl"))
    home = {i: name for name, path in res.paths.items() for i in ids(workspace, path)}
    assert home["t0"] == home["t1"]
    assert res.groups == 122  # 120 unrelated rows, the ticket with its copy, and the other ticket on its own
