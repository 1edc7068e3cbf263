"""compare_models on real run_eval and run_pairwise_judge outputs (scripted models over local HTTP)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy.stats import multinomial

from specialize.tools.compare import CompareModelsParams, compare_models
from specialize.tools.evaluate import RunEvalParams, run_eval
from specialize.tools.judge import RunPairwiseJudgeParams, run_pairwise_judge

from tests.helpers.fake_openai import FakeOpenAIServer
from tests.tools.test_evaluate import CASES, _write_set

DIMS = ["accuracy", "relevance", "clarity", "conciseness"]


def _model(mode):
    answers = {t: (json.dumps(ref) if mode == "perfect" else ans) for t, ref, ans in CASES}
    return lambda body: answers[body["messages"][-1]["content"]]


def _judge(body):
    text = body["messages"][0]["content"]
    a = re.search(r"\[RESPONSE A\]\n(.*?)\n\[END RESPONSE A\]", text, re.S).group(1)
    b = re.search(r"\[RESPONSE B\]\n(.*?)\n\[END RESPONSE B\]", text, re.S).group(1)
    qa, qb = (3 if s.strip().startswith("{") else 1 for s in (a, b))
    verdict = "A_better" if qa > qb else "B_better" if qb > qa else "tie"
    return json.dumps({"a_scores": {d: qa for d in DIMS}, "b_scores": {d: qb for d in DIMS}, "reasoning": "",
                       "verdict": verdict})


def test_report_has_every_section_table_and_plot(workspace):
    _write_set(workspace, extra_bad=False)
    files = []
    for name, price in (("perfect", 7.2), ("flawed", 0.36)):
        with FakeOpenAIServer(_model(name)) as server:
            res = run_eval(RunEvalParams(model=f"openai/{name}", api_base=server.url, eval_set="eval.jsonl",
                                         task_type="extraction", schema_path="schema.json", label_field="category",
                                         critical_fields=["category"], cost_per_hour_usd=price,
                                         output=f"evals/{name}.json"))
            files.append(res.results_path)
    with FakeOpenAIServer(_judge) as server:
        judged = run_pairwise_judge(RunPairwiseJudgeParams(responses=files, judge_model="openai/judge",
                                                           api_base=server.url, background=False,
                                                           names=["perfect", "flawed"], output_dir="judgments/cmp"))
    out = compare_models(CompareModelsParams(results=files, names=["perfect", "flawed"],
                                             judgments=judged.judgments_path, hosting={"flawed": "self-hosted"}))
    text = (workspace / out.report_path).read_text()
    for heading in ("## Executive Summary", "## Key Findings", "## Detailed Analysis", "## Recommendations",
                    "## Next Steps", "### Comparison matrix", "### Error taxonomy"):
        assert heading in text
    assert "| Model | Cost / 1M tok |" in text and "Latency p95" in text and "self-hosted" in text
    assert out.best_model == "perfect"
    # CIs in the metric table, win rate of the pair, and the flawed model's taxonomy with at most 3 examples each
    # all 6 right: the Clopper-Pearson lower end is (0.025)^(1/6) = 54.1%, not the bootstrap's collapsed 100%
    low = 100 * 0.025 ** (1 / 6)
    assert re.search(rf"\| perfect \| 6 \| 100\.0% \[{low:.1f}%, 100\.0%\]", text)
    # on the primary metric the perfect model gains 2 items of 6 and loses none. Outcomes at least as extreme by
    # McNemar's z = (b - c) / sqrt(b + c) >= sqrt(2): (b, 0) for b >= 2, and (5, 1). Exact unconditional p: the
    # largest chance of those under no difference over the discordance, doubled for two sides.
    cells = [(b, 0) for b in range(2, 7)] + [(5, 1)]
    p = 2 * max(sum(multinomial.pmf([b, c, 6 - b - c], 6, [d / 2, d / 2, 1 - d]) for b, c in cells)
                for d in np.linspace(0.001, 1, 4000))
    row = re.search(r"\| flawed \| 6 \| \+33\.3 pts \| [^|]+\| ([0-9.]+) \| ([0-9.]+) \|", text)
    assert row and float(row.group(1)) == pytest.approx(p, abs=5e-4) and float(row.group(2)) == float(row.group(1))
    assert "not significant in a paired test" in text and "only 6 items" in text
    assert "| perfect | flawed | 6 |" in text
    flawed = text.split("#### flawed")[1]
    for cat in ("parse_error", "schema_error", "wrong_category"):
        assert f"**{cat}** (1)" in flawed
    for png in out.plots:
        data = (workspace / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
        assert f"]({png.split('/')[-1]})" in text
    assert len(out.plots) == 3
