"""open_review, review_progress, review_results, export_review, save_reviewed_rows: the local human-review page
and what comes out of it.

``open_review`` builds a queue from an artifact another tool wrote and serves it on 127.0.0.1 as a background
job, returning the URL with its token at once; ``job_cancel`` stops the page. Three queues: judge validation
(a ``run_pairwise_judge`` judgments.json), row review (a ``generate_batch`` batch or ``validate_rows`` output)
and failure tagging (a ``run_eval`` results JSON). Answers live in ``reviews/<id>/`` in the workspace, so the
review survives restarts and several people can label it. ``review_results`` gives the judge-vs-people
agreement, the row decisions, or the counts per failure cause; ``export_review`` writes the answers as JSONL
(for the judge queue, the ``human_labels`` file ``run_pairwise_judge`` reads), CSV, a Hugging Face
``datasets`` folder or Argilla records, plus ``validation.json`` with the agreement figures for
``release_gate``; ``save_reviewed_rows`` turns a row review into a new dataset version.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Literal
from urllib.parse import quote

from pydantic import Field

from specialize.runtime import jobs
from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.registry import sha256_file
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import InputFile, OutputFile, rel, resolve_path


class OpenReviewParams(Params):
    source: InputFile | None = Field(None, description="The artifact to review: kind 'judge': the judgments.json "
                                                 "run_pairwise_judge wrote; 'rows': a generate_batch batch file or "
                                                 "validate_rows' accepted.jsonl / rejected.jsonl; 'failures': the "
                                                 "results JSON run_eval wrote. Leave empty to reopen review_id.")
    kind: Literal["judge", "rows", "failures"] = Field(
        "judge", description="Queue kind: 'judge' = validate the pairwise judge against people (blinded, random "
        "left/right order); 'rows' = accept, reject (gate reason) or correct training rows; 'failures' = tag "
        "each failed eval item with its causes.")
    review_id: str | None = Field(None, description="Reopen this review (its answers are kept), or the id to give "
                                                    "a new one (default: generated).")
    sample: int | None = Field(40, ge=1, description="Items to put in the queue, stratified (judge: by verdict "
                                                     "and position consistency; rows: by category; failures: by "
                                                     "error type and category); null = every item.")
    schema_path: str | None = Field(None, description="rows: the task's JSON Schema that corrected answers must "
                                                      "satisfy (default: the schema validate_rows recorded for the "
                                                      "file in the registry, if any).")
    seed: int = Field(0, description="Seed for the sample and the left/right order.")
    agreement_threshold: float = Field(0.8, ge=0, le=1, description="Raw agreement the judge needs with people to "
                                                                    "pass.")
    min_labels: int = Field(20, ge=1, description="Answers needed before the review can pass or fail.")
    annotator: str | None = Field(None, max_length=80, description="Name to prefill in the page (each answer "
                                                                   "records who gave it).")
    port: int = Field(0, ge=0, le=65535, description="Port on 127.0.0.1 (0 = any free port).")
    wait_seconds: float = Field(20, ge=0, le=120, description="How long to wait for the page to listen before "
                                                              "returning (it normally takes about a second).")


class OpenReviewResult(Result):
    review_id: str = Field(description="The review's id (its folder under reviews/).")
    review_dir: str = Field(description="Folder holding review.json, items.jsonl and answers.jsonl.")
    url: str | None = Field(description="Open this in a browser: the page with its one-time token. Null while "
                                        "the page is still starting (ask review_progress).")
    job_id: str = Field(description="The page's background job; job_cancel stops it (answers are kept).")
    state: Literal["serving", "starting"] = Field(description="'serving' once the page listens.")
    items: int = Field(description="Items in the queue.")
    answers: int = Field(description="Answers recorded so far (item x annotator).")
    reused: bool = Field(description="True when an already-running page for this review was returned.")


def _server_info(review_id: str) -> dict | None:
    from specialize.review import store

    path = store.review_dir(review_id) / "server.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    job_id = info.get("job_id")
    if not job_id:
        return info if _pid_alive(info.get("pid")) else None
    try:
        return info if jobs.read_status(job_id)["state"] == "running" else None
    except Exception:  # noqa: BLE001 - a job folder that was removed means no server
        return None


def _pid_alive(pid: int | None) -> bool:
    import psutil

    return bool(pid) and psutil.pid_exists(int(pid))


@tool()
def open_review(params: OpenReviewParams, *, progress=None) -> OpenReviewResult:
    """Open a human review page on 127.0.0.1 (token in the URL) and return its URL at once.

    kind='judge' builds a blinded judge-validation queue from a run_pairwise_judge judgments.json: a stratified
    sample, each pair shown in a random recorded left/right order, the judge's verdict hidden until the
    person answers (keys 1/2/3/4, n/p to move). kind='rows' shows training rows to accept (a), reject with a
    gate reason (1-9) or correct (e, Ctrl+Enter; a correction must pass the row gates and the task's schema);
    save_reviewed_rows then makes a dataset version. kind='failures' shows each failed run_eval item with
    reference and prediction side by side, to tag with causes (one key per cause, Enter saves). The page runs
    as a background job (stop it with job_cancel); answers are kept in reviews/<id>/ and survive restarts.
    Follow with review_progress, read the figures with review_results, export with export_review.
    """
    from specialize.review import store

    if params.source:
        review = store.create_review(params.kind, params.source, sample=params.sample, seed=params.seed,
                                     threshold=params.agreement_threshold, min_labels=params.min_labels,
                                     review_id=params.review_id, schema_path=params.schema_path)
    elif params.review_id:
        review = store.load_review(params.review_id)
    else:
        raise InvalidInput("Nothing to review: pass 'source' for a new review or 'review_id' to reopen one.",
                           fix="For the judge queue, pass the judgments.json that run_pairwise_judge wrote.")
    review_id = review["review_id"]
    suffix = f"&annotator={quote(params.annotator)}" if params.annotator else ""
    items = len(store.load_items(review_id))
    answers = len(store.latest_answers(review_id))
    folder = rel(store.review_dir(review_id))
    info = _server_info(review_id)
    if info:
        return OpenReviewResult(review_id=review_id, review_dir=folder, url=info["url"] + suffix,
                                job_id=info.get("job_id") or "", state="serving", items=items, answers=answers,
                                reused=True)
    handle = jobs.start_job("review_page", "specialize.review.app:serve_job",
                            {"review_id": review_id, "token": secrets.token_urlsafe(24), "port": params.port},
                            label=f"review page {review_id}")
    deadline = time.monotonic() + params.wait_seconds
    info = None
    while time.monotonic() < deadline:
        info = _server_info(review_id)
        if info and info.get("job_id") == handle["job_id"]:
            break
        if jobs.read_status(handle["job_id"])["state"] in jobs.FINAL:
            status = jobs.read_status(handle["job_id"])
            raise InvalidInput(f"The review page did not start: {status.get('error')}",
                               fix="See job_logs for the page's job.", log_tail=status.get("log_tail"))
        info = None
        time.sleep(0.05)
    return OpenReviewResult(review_id=review_id, review_dir=folder, url=info["url"] + suffix if info else None,
                            job_id=handle["job_id"], state="serving" if info else "starting", items=items,
                            answers=answers, reused=False)


class ReviewIdParams(Params):
    review_id: str = Field(description="The review's id, as open_review returned it.")


class AnnotatorCount(Result):
    annotator: str = Field(description="Who answered.")
    answers: int = Field(description="Items this person has answered.")


class ReviewProgressResult(Result):
    review_id: str = Field(description="The review's id.")
    kind: str = Field(description="Queue kind.")
    items: int = Field(description="Items in the queue.")
    answers: int = Field(description="Answers recorded (item x annotator, the latest per person counts).")
    items_answered: int = Field(description="Items with at least one answer.")
    by_annotator: list[AnnotatorCount] = Field(description="Answers per person.")
    serving: bool = Field(description="Whether the page is running now.")
    url: str | None = Field(description="The running page's URL with its token, when it is serving.")
    job_id: str | None = Field(description="The running page's job id (job_cancel stops it).")


@tool(read_only=True, idempotent=True)
def review_progress(params: ReviewIdParams, *, progress=None) -> ReviewProgressResult:
    """How far a review has got: items, answers per person, and whether its page is serving (with its URL)."""
    from specialize.review import store

    review = store.load_review(params.review_id)
    answers = store.latest_answers(params.review_id)
    counts: dict[str, int] = {}
    for _, who in answers:
        counts[who] = counts.get(who, 0) + 1
    info = _server_info(params.review_id)
    return ReviewProgressResult(
        review_id=params.review_id, kind=review["kind"], items=len(store.load_items(params.review_id)),
        answers=len(answers), items_answered=len({k for k, _ in answers}),
        by_annotator=[AnnotatorCount(annotator=a, answers=n) for a, n in sorted(counts.items())],
        serving=info is not None, url=info["url"] if info else None, job_id=info.get("job_id") if info else None)


class ReviewResultsParams(Params):
    review_id: str = Field(description="The review's id, as open_review returned it.")
    bootstrap_resamples: int = Field(2000, ge=100, le=100_000, description="Bootstrap resamples for kappa's CI.")
    seed: int = Field(0, description="Seed for the bootstrap.")


class HumanColumns(Result):
    A_better: int = Field(description="People said the pair's first model (A) answered better.")
    B_better: int = Field(description="People said the pair's second model (B) answered better.")
    tie: int = Field(description="People said tie (or both bad).")


class Confusion(Result):
    A_better: HumanColumns = Field(description="Answers on items the judge gave to A.")
    B_better: HumanColumns = Field(description="Answers on items the judge gave to B.")
    tie: HumanColumns = Field(description="Answers on items the judge called a tie (or both bad, or where it "
                                          "flipped with the order).")


class AnnotatorAgreement(Result):
    n: int = Field(description="This person's answers.")
    agreement: float = Field(description="Share of them where the judge agrees.")
    kappa: float = Field(description="Cohen's kappa between this person and the judge.")


class JudgeAgreement(Result):
    n: int = Field(description="Answers compared (item x annotator).")
    items_labelled: int = Field(description="Distinct items with at least one answer.")
    items: int = Field(description="Items in the queue.")
    agreement: float | None = Field(description="Raw agreement between the judge and people (null with no answers).")
    kappa: float | None = Field(description="Cohen's kappa between the judge and people.")
    kappa_ci_low: float | None = Field(description="Lower end of kappa's 95% percentile bootstrap CI.")
    kappa_ci_high: float | None = Field(description="Upper end of kappa's 95% percentile bootstrap CI.")
    confusion: Confusion = Field(description="Judge (rows) x people (columns) counts.")
    position_flip_rate: float | None = Field(description="Share of the labelled items where the judge changed its "
                                                         "verdict when the answers were swapped.")
    per_annotator: dict[str, AnnotatorAgreement] = Field(description="The same figures per person.")
    threshold: float = Field(description="Agreement needed to pass.")
    min_labels: int = Field(description="Answers needed before pass/fail is decided.")
    status: Literal["pass", "fail", "not_enough_labels"] = Field(description="pass / fail against the threshold, or "
                                                                            "not_enough_labels.")
    judge_model: str | None = Field(description="The judge that was validated.")
    rubric: str | None = Field(description="Its rubric's name.")
    rubric_sha256: str | None = Field(description="Its rubric's hash (the rubric version).")


class RowDecisions(Result):
    items: int = Field(description="Rows in the queue.")
    accepted: int = Field(description="Rows whose latest decision is accept.")
    edited: int = Field(description="Rows whose latest decision is a (gate-checked) correction.")
    rejected: int = Field(description="Rows whose latest decision is reject.")
    unreviewed: int = Field(description="Rows nobody has decided yet.")
    reject_reasons: dict[str, int] = Field(description="Rejections per gate:reason code.")
    edited_ids: list[str] = Field(description="Ids of the corrected rows.")
    conflicts: list[str] = Field(description="Ids of rows where reviewers' latest decisions differ (the newest "
                                             "decision counts).")
    annotators: list[str] = Field(description="Who reviewed.")


class CauseCount(Result):
    cause: str = Field(description="Failure cause code from the taxonomy.")
    label: str = Field(description="The cause in words.")
    items: int = Field(description="Failed items tagged with this cause by anyone.")
    tags: int = Field(description="Tags with this cause (item x annotator).")
    example_ids: list[str] = Field(description="Ids of those items (eval set ids), for targeted data repair.")
    categories: dict[str, int] = Field(description="Those items per category ('None' without one).")
    repair: str = Field(description="What targeted data usually repairs this cause.")
    notes: list[str] = Field(description="Reviewers' notes on those items (up to 20).")


class FailureTags(Result):
    items: int = Field(description="Failed items in the queue.")
    items_tagged: int = Field(description="Items with at least one tag set.")
    tags: int = Field(description="Tag sets recorded (item x annotator).")
    causes: list[CauseCount] = Field(description="Causes with at least one item, most items first.")
    untagged_ids: list[str] = Field(description="Ids of the items nobody has tagged yet.")
    annotators: list[str] = Field(description="Who tagged.")


class ReviewResultsResult(Result):
    review_id: str = Field(description="The review's id.")
    kind: Literal["judge", "rows", "failures"] = Field(description="Queue kind; the section of that name is set.")
    judge: JudgeAgreement | None = Field(None, description="judge: agreement between people and the judge.")
    rows: RowDecisions | None = Field(None, description="rows: the decisions so far.")
    failures: FailureTags | None = Field(None, description="failures: counts per failure cause with example ids.")


@tool(read_only=True, idempotent=True)
def review_results(params: ReviewResultsParams, *, progress=None) -> ReviewResultsResult:
    """What a review says so far. judge: n, raw agreement, Cohen's kappa with a bootstrap CI, the judge x people
    confusion matrix, the judge's position-flip rate on the labelled items, pass / fail against the threshold.
    rows: accepted / corrected / rejected / unreviewed counts, reject reasons, corrected ids. failures: items per
    cause with their ids, categories and a repair hint, for targeted data repair."""
    from specialize.review import agreement, failures, rows, store

    kind = store.load_review(params.review_id)["kind"]
    if kind == "judge":
        fig = agreement.agreement(params.review_id, n_resamples=params.bootstrap_resamples, seed=params.seed)
        return ReviewResultsResult(review_id=params.review_id, kind=kind,
                                   judge=JudgeAgreement(**{k: v for k, v in fig.items() if k != "review_id"}))
    if kind == "rows":
        return ReviewResultsResult(review_id=params.review_id, kind=kind, rows=RowDecisions(**rows.summary(
            params.review_id)))
    return ReviewResultsResult(review_id=params.review_id, kind=kind,
                               failures=FailureTags(**failures.summary(params.review_id)))


class ExportReviewParams(Params):
    review_id: str = Field(description="The review's id, as open_review returned it.")
    format: Literal["jsonl", "csv", "hf", "argilla"] = Field(
        "jsonl", description="jsonl: one row per item and annotator (judge queue: usable as run_pairwise_judge's "
        "human_labels); csv: the same columns for a spreadsheet; hf: a Hugging Face datasets folder "
        "(datasets.load_from_disk); argilla: records.jsonl + settings.json in Argilla's record layout.")
    output: str | None = Field(None, description="File (jsonl, csv) or folder (hf, argilla) to write (default "
                                                 "reviews/<id>/human_labels.<format>, or reviews/<id>/<format>/).")


class ExportReviewResult(Result):
    path: str = Field(description="The file or folder written (workspace-relative).")
    rows: int = Field(description="Rows written (item x annotator; argilla: one record per item).")
    sha256: str | None = Field(description="sha256 of the file (null for a folder).")
    validation_path: str | None = Field(description="judge queue: validation.json beside the review, the agreement "
                                                    "figures that release_gate reads (its judge_validation).")


@tool(idempotent=True)
def export_review(params: ExportReviewParams, *, progress=None) -> ExportReviewResult:
    """Write a review's answers as JSONL (judge queue: run_pairwise_judge's human_labels format {id, model_a,
    model_b, verdict} plus annotator, shown order, reason, the judge's verdicts in both orders, rubric version and
    data hash), CSV, a Hugging Face datasets folder, or Argilla records with a settings file. For a judge queue
    also writes the agreement figures as validation.json, which release_gate takes as judge_validation."""
    from specialize.review import agreement, exports, store
    from specialize.runtime.workspace import make_dirs, write_text

    folder = store.review_dir(params.review_id)
    review = store.load_review(params.review_id)
    cols = exports.columns(review["kind"])
    rows = exports.label_rows(params.review_id)
    default = (f"{rel(folder)}/human_labels.{params.format}" if params.format in ("jsonl", "csv")
               else f"{rel(folder)}/{params.format}")
    out = resolve_path(params.output or default, arg="output", for_write=True)
    digest: str | None = None
    if params.format in ("jsonl", "csv"):
        make_dirs(out.parent, arg="output")
        write_text(out, exports.to_jsonl(rows) if params.format == "jsonl" else exports.to_csv(rows, cols),
                   arg="output")
        digest = sha256_file(out)
    elif params.format == "hf":
        make_dirs(out.parent, arg="output")
        exports.save_hf(rows, cols, out)
    else:
        settings, records = exports.argilla_export(params.review_id)
        make_dirs(out, arg="output")
        write_text(out / "settings.json", json.dumps(settings, indent=1), arg="output")
        write_text(out / "records.jsonl", exports.to_jsonl(records), arg="output")
        rows = records
    validation = None
    if review["kind"] == "judge":
        validation = folder / "validation.json"
        write_text(validation, json.dumps({"kind": "judge_validation", **agreement.agreement(params.review_id)},
                                          indent=1), arg="output")
    return ExportReviewResult(path=rel(out), rows=len(rows), sha256=digest,
                              validation_path=rel(validation) if validation else None)


class SaveReviewedRowsParams(Params):
    review_id: str = Field(description="A row review's id (open_review with kind='rows').")
    keep_unreviewed: bool = Field(False, description="Also keep the source file's rows nobody reviewed, unchanged "
                                                     "(for a review of a sample of accepted rows; refused for a "
                                                     "review of rejected.jsonl).")
    output: str | None = Field(None, description="JSONL to write (default reviews/<id>/reviewed.jsonl); the rows "
                                                 "people rejected go beside it as <name>.rejected.jsonl.")


class SaveReviewedRowsResult(Result):
    path: str = Field(description="The reviewed rows: accepted and corrected ones, each with provenance."
                                  "human_review (review id, decision, annotator, time; the original answer for a "
                                  "correction).")
    rejected_path: str = Field(description="Rows people rejected, in rejected.jsonl's layout (line, gate, reason, "
                                           "details with the annotator, row).")
    version: str = Field(description="The new dataset version (ds-...) in registry/datasets.jsonl.")
    parent: str = Field(description="The reviewed file's dataset version.")
    rows: int = Field(description="Rows written to path.")
    sha256: str = Field(description="sha256 of path.")
    accepted: int = Field(description="Rows accepted as they were.")
    edited: int = Field(description="Rows whose answer a person corrected.")
    rejected: int = Field(description="Rows people rejected.")
    unreviewed: int = Field(description="Rows nobody decided (left out unless keep_unreviewed).")
    kept_unreviewed: int = Field(description="Of those, rows kept unchanged because keep_unreviewed was set.")
    edited_ids: list[str] = Field(description="Ids of the corrected rows.")
    conflicts: list[str] = Field(description="Ids where reviewers disagreed (the newest decision was used).")


@tool()
def save_reviewed_rows(params: SaveReviewedRowsParams, *, progress=None) -> SaveReviewedRowsResult:
    """Turn a row review into a new dataset version: the accepted and corrected rows (each with its review
    provenance: review id, who, when, the original answer of a correction) registered with the reviewed file as
    parent, and the rows people rejected written beside them with their reasons. Nothing is dropped silently:
    accepted + edited + rejected + unreviewed adds up to the queue (or the file, with keep_unreviewed)."""
    from specialize.review import rows

    return SaveReviewedRowsResult(**rows.save_dataset(params.review_id, keep_unreviewed=params.keep_unreviewed,
                                                      output=params.output))
