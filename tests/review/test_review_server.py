"""The review page as a real server (a background job on 127.0.0.1), reached over real HTTP: its door and
its tools. No browser here; see test_review_browser.py for the page itself."""

from __future__ import annotations

import json

import httpx
import pytest
from specialize.tools.review import (ExportReviewParams, OpenReviewParams, ReviewIdParams, ReviewResultsParams,
                                     export_review, open_review, review_progress, review_results)

from specialize.runtime import jobs
from specialize.runtime.errors import InvalidInput, NotFound, PathEscape


@pytest.fixture
def page(judged):
    ws, judgments = judged
    opened = open_review(OpenReviewParams(source=judgments, sample=None, min_labels=2))
    try:
        yield ws, opened
    finally:
        jobs.cancel(opened.job_id)


def _base(url: str) -> str:
    return url.split("?")[0].rstrip("/")


def test_token_origin_and_host_are_checked(page):
    ws, opened = page
    assert opened.state == "serving" and opened.url.startswith("http://127.0.0.1:")
    base = _base(opened.url)
    token = opened.url.split("token=")[1]
    with httpx.Client() as h:
        assert h.get(base + "/").status_code == 401
        assert h.get(base + "/?token=wrong").status_code == 401
        assert h.get(base + "/agreement", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert h.get(base + "/export/labels.jsonl").status_code == 401
        first = h.get(opened.url)
        assert first.status_code == 303 and first.headers["location"] == "/"  # token swapped for a cookie
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token in cookie
        h.cookies = first.cookies
        assert h.get(base + "/").status_code == 200
        assert h.get(base + "/", headers={"Origin": "http://evil.example"}).status_code == 403
        assert h.get(base + "/", headers={"Host": "evil.example"}).status_code == 403  # DNS rebinding
        h.get(base + "/?annotator=mallory")
        item = json.loads((ws / opened.review_dir / "items.jsonl").read_text().splitlines()[0])["key"]
        forged = h.post(f"{base}/item/{item}", data={"verdict": "left"}, headers={"Origin": "http://evil.example"})
        assert forged.status_code == 403
        assert (ws / opened.review_dir / "answers.jsonl").read_text() == ""
        ok = h.post(f"{base}/item/{item}", data={"verdict": "left"}, headers={"Origin": base})
        assert ok.status_code == 303
        bad = h.post(f"{base}/item/{item}", data={"verdict": "A_better"}, headers={"Origin": base})
        assert bad.status_code == 400 and "not a verdict" in bad.text
    assert review_progress(ReviewIdParams(review_id=opened.review_id)).answers == 1


def test_paths_are_confined_to_the_workspace(judged, tmp_path):
    ws, judgments = judged
    outside = tmp_path / "outside.json"
    outside.write_text((ws / judgments).read_text())
    with pytest.raises(PathEscape):
        open_review(OpenReviewParams(source=str(outside)))
    with pytest.raises(PathEscape):
        open_review(OpenReviewParams(source="../outside.json"))
    with pytest.raises(InvalidInput):
        open_review(OpenReviewParams(review_id="../../etc"))
    with pytest.raises(NotFound):
        review_results(ReviewResultsParams(review_id="no-such-review"))
    from specialize.review import store

    rid = store.create_review("judge", judgments, sample=4, seed=0, threshold=0.8, min_labels=1)["review_id"]
    with pytest.raises(PathEscape):
        export_review(ExportReviewParams(review_id=rid, output=str(tmp_path / "labels.jsonl")))
    with pytest.raises(PathEscape):
        export_review(ExportReviewParams(review_id=rid, output="../labels.jsonl"))


def test_reopening_returns_the_running_page_and_restart_keeps_answers(page):
    ws, opened = page
    again = open_review(OpenReviewParams(review_id=opened.review_id, annotator="ann"))
    assert again.reused and again.job_id == opened.job_id and again.url.endswith("&annotator=ann")
    jobs.cancel(opened.job_id)
    assert not review_progress(ReviewIdParams(review_id=opened.review_id)).serving
    with httpx.Client() as h:
        with pytest.raises(httpx.ConnectError):
            h.get(opened.url)
    fresh = open_review(OpenReviewParams(review_id=opened.review_id))
    try:
        assert not fresh.reused and fresh.state == "serving" and fresh.url != opened.url  # a new token
        prog = review_progress(ReviewIdParams(review_id=opened.review_id))
        assert prog.serving and prog.url == fresh.url and prog.items == 10
    finally:
        jobs.cancel(fresh.job_id)


def test_cli_serves_in_the_foreground_and_prints_the_url(judged):
    import os
    import subprocess
    import sys
    import time

    ws, judgments = judged
    proc = subprocess.Popen([sys.executable, "-m", "specialize", "review", judgments, "--sample", "4",
                             "--review-id", "cli-review", "--annotator", "ann"],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, SPECIALIZE_WORKSPACE=str(ws)))
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if line.startswith("open "):
                break
        url = lines[-1].split()[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("&annotator=ann"), lines
        with httpx.Client() as h:
            assert h.get(url.split("?")[0]).status_code == 401
            assert h.get(url, follow_redirects=True).status_code == 200
        assert len((ws / "reviews" / "cli-review" / "items.jsonl").read_text().splitlines()) == 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)
