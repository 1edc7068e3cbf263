"""A real judgments.json for the review tests: run_pairwise_judge against the scripted judge over real HTTP.

Models x and y answer ten questions; the scripted judge is truthful (compares the planted quality), so its
verdicts are known by construction: x better on q0-q3, y better on q4-q6, a tie on q7-q9, the same in both
orders.
"""

from __future__ import annotations

import contextlib
import json
import os
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


@contextlib.contextmanager
def _session_workspace(tmp_path_factory, name):
    """A fresh folder that is the workspace while a session template is made in it."""
    ws = tmp_path_factory.mktemp(name)
    mp = pytest.MonkeyPatch()
    mp.setenv("SPECIALIZE_WORKSPACE", str(ws))
    try:
        yield ws
    finally:
        mp.undo()


def _copy_template(workspace, template):
    """(workspace, the template's result path) after copying a session template's files into this test's
    workspace."""
    src, result_path = template
    shutil.copytree(src, workspace, dirs_exist_ok=True)
    return workspace, result_path


@pytest.fixture(scope="session")
def judged_template(tmp_path_factory):
    """One real judge run per session (litellm is slow to import); each test gets its own copy."""
    with _session_workspace(tmp_path_factory, "judged") as ws:
        files = [_write(ws, "x", X_QUALITY), _write(ws, "y", Y_QUALITY)]
        with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
            res = run_pairwise_judge(RunPairwiseJudgeParams(responses=files, judge_model="openai/judge",
                                                            api_base=server.url, concurrency=4, background=False,
                                                            output_dir="judgments/xy"))
    return ws, res.judgments_path


@pytest.fixture
def judged(workspace, judged_template):
    """(workspace, judgments path relative to it) in this test's own workspace."""
    return _copy_template(workspace, judged_template)


# --- row review and failure tagging ---------------------------------------------------------------------------

SCHEMA = "builtin:tasks/support-triage/schema.json"
TICKETS = [  # (id, ticket, answer); r5's category is outside the schema's enum, so validate_rows rejects it
    ("r0", "Please send me a copy of the Ledgerly invoice from September for our accountant.",
     {"category": "billing", "priority": "normal", "product": "Ledgerly", "needs_human": False}),
    ("r1", "The Beacon Reader will not pair with my tablet since the firmware update yesterday.",
     {"category": "bug_report", "priority": "high", "product": "Beacon Reader", "needs_human": False}),
    ("r2", "How do I export shift schedules from Rosterly into a spreadsheet file?",
     {"category": "technical_question", "priority": "low", "product": "Rosterly", "needs_human": False}),
    ("r3", "I was locked out after three wrong passwords and the reset email never arrives.",
     {"category": "account_access", "priority": "high", "product": None, "needs_human": True}),
    ("r4", "Could you add a dark mode to the mobile app? My eyes hurt during night shifts.",
     {"category": "feature_request", "priority": "low", "product": "Tidewell Mobile", "needs_human": False}),
    ("r5", "Where is my parcel with the replacement card terminal? Tracking has not moved in a week.",
     {"category": "delivery", "priority": "normal", "product": "Tidewell POS", "needs_human": False}),
]


@pytest.fixture
def rows_validated(workspace):
    """A generate_batch-shaped file of six triage rows, put through the real validate_rows with the task's
    schema: r0-r4 accepted, r5 rejected (enum violation)."""
    from specialize.tools.validate import ValidateRowsParams, validate_rows

    with open(workspace / "batch.jsonl", "w") as fh:
        for rid, ticket, answer in TICKETS:
            fh.write(json.dumps({"id": rid, "messages": [
                {"role": "system", "content": "Triage the ticket. Answer with one JSON object."},
                {"role": "user", "content": ticket}, {"role": "assistant", "content": json.dumps(answer)}],
                "meta": {"category": answer["category"], "difficulty": "easy"},
                "provenance": {"teacher": "openai/teacher"}}) + "\n")
    res = validate_rows(ValidateRowsParams(input_path="batch.jsonl", schema_path=SCHEMA, out_dir="data/validated"))
    assert (res.accepted, res.rejected) == (5, 1), res
    return workspace, res


@pytest.fixture(scope="session")
def eval_template(tmp_path_factory):
    """One real run_eval per session over test_evaluate's six tickets: its scripted model is right on t0 and t1
    and wrong on t2 (priority), t3 (category), t4 (prose, no JSON) and t5 (an extra key)."""
    from specialize.tools.evaluate import RunEvalParams, run_eval

    from tests.tools.test_evaluate import _responder, _write_set

    with _session_workspace(tmp_path_factory, "evaluated") as ws:
        _write_set(ws, extra_bad=False)
        with FakeOpenAIServer(_responder) as server:
            res = run_eval(RunEvalParams(model="openai/scripted", api_base=server.url, eval_set="eval.jsonl",
                                         task_type="extraction", schema_path="schema.json", label_field="category",
                                         background=False, output="evals/scripted.json"))
    return ws, res.results_path


@pytest.fixture
def evaluated(workspace, eval_template):
    return _copy_template(workspace, eval_template)


# --- the browser (Playwright driving Debian's chromium) -------------------------------------------------------

CHROMIUM = os.environ.get("SPECIALIZE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")  # not session: Playwright's sync API keeps an event loop running in this
def browser():                   # thread while open, and later tests that call asyncio.run() would fail
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"no chromium at {CHROMIUM}: run scripts/setup.sh as root (it installs Debian's chromium) "
                    "or set SPECIALIZE_CHROMIUM")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                                 "(pip install -e '.[dev]')")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


