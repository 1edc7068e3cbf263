"""The review page in a real browser (Playwright driving Debian's chromium): label with the keyboard, reload
and restart mid-way and carry on, and read a kappa on the agreement page equal to the one worked out by hand;
then feed the exported labels to run_pairwise_judge unchanged and get the same kappa back."""

from __future__ import annotations

import re

import pytest
from specialize.tools.judge import RunPairwiseJudgeParams, run_pairwise_judge
from specialize.tools.review import ExportReviewParams, OpenReviewParams, export_review, open_review

from specialize.runtime import jobs
from tests.helpers.fake_openai import FakeOpenAIServer
from tests.review.conftest import JUDGE
from tests.tools.test_judge import scripted_judge

pytestmark = pytest.mark.browser

# What the person answers, in model terms (A = x, B = y). The judge (see conftest) says A on q0-q3, B on
# q4-q6, tie on q7-q9. Judge x person:            person A  B  tie
#   judge A:   q0 A, q1 A, q2 A, q3 B          ->         3  1  0
#   judge B:   q4 B, q5 B, q6 tie              ->         0  2  1
#   judge tie: q7 tie, q8 tie, q9 A            ->         1  0  2
# agreement = (3+2+2)/10 = 0.7; both raters' marginals are A .4, B .3, tie .3, so chance agreement
# pe = .4*.4 + .3*.3 + .3*.3 = .34 and kappa = (.7 - .34) / (1 - .34) = .36/.66 = 6/11.
PERSON = {"q0": "A", "q1": "A", "q2": "A", "q3": "B", "q4": "B", "q5": "B", "q6": "tie",
          "q7": "tie", "q8": "tie", "q9": "A"}
KAPPA = 6 / 11


def _answer(page) -> str:
    """Press the key for this item's planned answer, reading which model the page put on the left."""
    qid = "q" + re.search(r"question (\d+)", page.inner_text("#prompt")).group(1)
    left_model = "A" if page.inner_text("#left").startswith("x answer") else "B"
    want = PERSON[qid]
    key = "3" if want == "tie" else ("1" if want == left_model else "2")
    assert page.locator("#reveal").count() == 0 and page.locator("#judge-verdict").count() == 0  # hidden
    with page.expect_navigation():
        page.keyboard.press(key)
    assert page.locator("#your-answer").is_visible()
    judge = JUDGE[qid]
    shown = {"tie": "Tie"}.get(judge) or ("Answer 1 is better" if judge[0] == left_model else "Answer 2 is better")
    assert page.inner_text("#judge-verdict") == shown
    return qid


def test_label_with_keyboard_reload_restart_and_read_kappa(judged, browser):
    ws, judgments = judged
    opened = open_review(OpenReviewParams(source=judgments, sample=None, min_labels=10, agreement_threshold=0.6))
    seen: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(opened.url)
        page.fill("#annotator", "alice")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert re.search(r"/item/\w+$", page.url), page.content()
        for _ in range(4):
            seen.append(_answer(page))
            with page.expect_navigation():
                page.keyboard.press("n")
        # reload mid-way: the page is the same unanswered item, progress says 4 of 10
        here = page.url
        page.reload()
        assert page.url == here and page.locator("#reveal").count() == 0
        assert "4 / 10 answered by alice" in page.inner_text("#progress")
        # p goes back to an answered item whose answer and judge are shown; n returns
        with page.expect_navigation():
            page.keyboard.press("p")
        assert page.locator("#your-answer").is_visible()
        with page.expect_navigation():
            page.keyboard.press("n")
        seen.append(_answer(page))

        # restart the page (a new process, a new token): the answers are still there and /next resumes
        jobs.cancel(opened.job_id)
        opened = open_review(OpenReviewParams(review_id=opened.review_id))
        page.goto(opened.url)
        assert page.input_value("#annotator") == "alice"  # remembered by this browser
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "5 / 10 answered by alice" in page.inner_text("#progress")
        while "/item/" in page.url:
            qid = _answer(page)
            assert qid not in seen
            seen.append(qid)
            with page.expect_navigation():
                page.keyboard.press("n")
        assert sorted(seen) == sorted(PERSON)
        page.goto(opened.url.split("?")[0] + "agreement")
        assert page.inner_text("#n") == "10"
        assert float(page.get_attribute("#agreement", "data-value")) == pytest.approx(0.7, abs=1e-12)
        assert float(page.get_attribute("#kappa", "data-value")) == pytest.approx(KAPPA, abs=1e-12)
        assert page.inner_text("#kappa") == f"{KAPPA:.3f}"
        assert page.inner_text('#confusion td[data-judge="A_better"][data-human="B_better"]') == "1"
        assert page.inner_text('#confusion td[data-judge="tie"][data-human="A_better"]') == "1"
        assert page.inner_text("#flip-rate") == "0.000"
        assert page.inner_text("#status") == "pass"  # 0.7 >= 0.6 with 10 >= 10 answers
        low, high = (float(x) for x in page.inner_text("#kappa-ci").split(" – "))
        assert low < KAPPA < high
    finally:
        context.close()
        jobs.cancel(opened.job_id)

    # the loop closes with no change to the judge tool: its kappa on the exported labels is the same
    out = export_review(ExportReviewParams(review_id=opened.review_id))
    assert out.rows == 10
    with FakeOpenAIServer(scripted_judge(bias=0.0)) as server:
        res = run_pairwise_judge(RunPairwiseJudgeParams(
            responses=["x.jsonl", "y.jsonl"], judge_model="openai/judge", api_base=server.url, concurrency=4,
            background=False, human_labels=out.path, output_dir="judgments/validated"))
    assert res.judge_validation.n == 10
    assert res.judge_validation.agreement == pytest.approx(0.7, abs=1e-12)
    assert res.judge_validation.kappa == pytest.approx(KAPPA, abs=1e-12)
