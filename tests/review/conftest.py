"""A real judgments.json for the review tests: run_pairwise_judge against the scripted judge over real HTTP.

Models x and y answer ten questions; the scripted judge is truthful (compares the planted quality), so its
verdicts are known by construction: x better on q0-q3, y better on q4-q6, a tie on q7-q9, the same in both
orders.
"""

from __future__ import annotations

import json
import shutil

import pytest
from specialize.tools.judge import RunPairwiseJudgeParams, run_pairwise_judge

from tests.helpers.fake_openai import FakeOpenAIServer
from tests.tools.test_judge import scripted_judge

X_QUALITY = [5, 5, 5, 5, 1, 1, 1, 3, 3, 3]
Y_QUALITY = [1, 1, 1, 1, 5, 5, 5, 3, 3, 3]
JUDGE = {f"q{i}": ("A_better" if x > y else "B_better" if y > x else "tie")
         for i, (x, y) in enumerate(zip(X_QUALITY, Y_QUALITY))}


def _write(ws, name, qualities):
    with open(ws / f"{name}.jsonl", "w") as fh:
        for i, q in enumerate(qualities):
            fh.write(json.dumps({"id": f"q{i}", "prompt": f"question {i}", "model": name,
                                 "response": f"{name} answer {i} quality={q}"}) + "\n")
    return f"{name}.jsonl"


@pytest.fixture(scope="session")
def judged_template(tmp_path_factory):
    """One real judge run per session (litellm is slow to import); each test gets its own copy."""
    ws = tmp_path_factory.mktemp("judged")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPECIALIZE_WORKSPACE", str(ws))
    try:
        files = [_write(ws, "x", X_QUALITY), _write(ws, "y", Y_QUALITY)]
        with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
            res = run_pairwise_judge(RunPairwiseJudgeParams(responses=files, judge_model="openai/judge",
                                                            api_base=server.url, concurrency=4, background=False,
                                                            output_dir="judgments/xy"))
    finally:
        mp.undo()
    return ws, res.judgments_path


@pytest.fixture
def judged(workspace, judged_template):
    """(workspace, judgments path relative to it) in this test's own workspace."""
    src, judgments = judged_template
    shutil.copytree(src, workspace, dirs_exist_ok=True)
    return workspace, judgments
