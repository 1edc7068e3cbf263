"""task_history: how the task evolved across model versions — quality with its interval, win rates, cost, latency,
the cost/quality frontier and the regression timeline — from the workspace registry (and the tracker's run count).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from specialize.runtime.catalog import tool
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import make_dirs, rel, resolve_path, write_text


class TaskHistoryParams(Params):
    results: list[str] | None = Field(None, description="run_eval results files, oldest version first. "
                                      "Default: every run_eval the workspace registry recorded, grouped into "
                                      "versions (model, adapter, system prompt, decoding, few-shot shots).")
    names: list[str] | None = Field(None, description="Version names. With 'results': one per file, files of one "
                                                      "version (e.g. its golden and regression results) sharing its "
                                                      "name; else one per version found, oldest first. Default: the "
                                                      "name a ship decision gave, else v1, v2, ...")
    eval_set: str | None = Field(None, description="Eval set (path or sha256) whose metric the history follows "
                                                   "(default: the shipped version's gate set, else the set most "
                                                   "versions were scored on).")
    metric: str | None = Field(None, description="Metric to follow (default: that set's primary metric).")
    judgments: list[str] | None = Field(None, description="judgments.json files to take win rates from (default: "
                                                          "every run_pairwise_judge in the registry).")
    output_dir: str = Field("history", description="Folder for history.json and the two plots.")
    plots: bool = Field(True, description="Draw quality.png and frontier.png.")


class WinRate(Result):
    win_rate: float = Field(description="This version's judge win rate over the other, ties counted as half.")
    ci: list[float | None] = Field(description="95% bootstrap interval [low, high] of that win rate.")
    n_items: int | None = Field(None, description="Items judged.")
    judgments: str = Field(description="The judgments file it comes from.")


class VersionRow(Result):
    version: str = Field(description="The version's name.")
    model: str = Field(description="Model reference, with adapter, prompt, decoding and shots where they differ.")
    first_evaluated: str | None = Field(None, description="When run_eval first scored it (UTC).")
    results_path: str | None = Field(None, description="Its results on the followed eval set (null: not scored "
                                                       "there).")
    metric: str | None = Field(None, description="The metric followed.")
    value: float | None = Field(None, description="Its value on the followed eval set.")
    ci: list[float | None] | None = Field(None, description="95% interval [low, high] of that value, from run_eval.")
    n: int | None = Field(None, description="Items scored.")
    cost_per_1k_requests_usd: float | None = Field(None, description="Cost per 1,000 requests, when run_eval knew "
                                                                     "it.")
    latency_p95_s: float | None = Field(None, description="Latency p95 in seconds, when timed.")
    shipped: list[str] = Field(default_factory=list, description="Ship records naming this version.")
    win_vs_previous: WinRate | None = Field(None, description="Judge win rate over the version before it, when "
                                                              "the two were judged.")
    win_vs_shipped: WinRate | None = Field(None, description="Judge win rate over the shipped version, when the two "
                                                             "were judged.")
    eval_sets: list[str] = Field(default_factory=list, description="Every eval set it was scored on.")


class Frontier(Result):
    metric: str | None = Field(None, description="Quality axis.")
    on_frontier: list[str] = Field(description="Versions no other version beats on both cost and quality.")
    left_out: list[str] = Field(description="Versions without a known cost or value (not placed).")


class TimelineEntry(Result):
    eval_set: str | None = Field(None, description="The eval set (path as recorded).")
    eval_set_sha256: str | None = Field(None, description="Its content hash.")
    version: str = Field(description="The version.")
    previous: str = Field(description="The version before it on this set.")
    n_shared: int = Field(description="Items both scored.")
    regressed: list[str] = Field(description="Ids right in the previous version, wrong in this one.")
    fixed: list[str] = Field(description="Ids wrong in the previous version, right in this one.")


class TrackerInfo(Result):
    enabled: bool = Field(description="Whether runs are logged to the experiment tracker (MLflow).")
    uri: str | None = Field(None, description="Tracking store or server.")
    experiment: str | None = Field(None, description="Experiment name.")
    reason: str | None = Field(None, description="Why tracking is off, when it is.")
    runs_by_kind: dict[str, int] = Field(default_factory=dict, description="Runs in the tracker, per kind.")
    error: str | None = Field(None, description="Why the tracker could not be read (the registry still could).")


class TaskHistoryResult(Result):
    metric: str | None = Field(None, description="The metric followed.")
    eval_set: str | None = Field(None, description="The eval set followed.")
    eval_set_sha256: str | None = Field(None, description="Its content hash.")
    versions: list[VersionRow] = Field(description="One row per version, oldest first.")
    shipped: str | None = Field(None, description="The version shipped last, if any.")
    frontier: Frontier = Field(description="The cost/quality frontier across versions.")
    regression_timeline: list[TimelineEntry] = Field(description="Per version and eval set: what regressed and "
                                                                  "what was fixed since the version before.")
    notes: list[str] = Field(default_factory=list, description="Registry entries left out, and why.")
    history_path: str = Field(description="history.json with all of the above.")
    quality_plot: str | None = Field(None, description="PNG: the metric over versions with 95% intervals.")
    frontier_plot: str | None = Field(None, description="PNG: quality against cost per 1,000 requests.")
    tracker: TrackerInfo = Field(description="The experiment tracker's state.")


def _tracker() -> TrackerInfo:
    from specialize.runtime import tracking

    info = TrackerInfo(**tracking.describe())
    if info.enabled:
        try:
            counts: dict[str, int] = {}
            for r in tracking.runs():
                counts[r["kind"] or "?"] = counts.get(r["kind"] or "?", 0) + 1
            info.runs_by_kind = counts
        except Exception as exc:  # the history comes from the registry; say why the tracker count is missing
            info.error = f"{type(exc).__name__}: {exc}"
    return info


@tool(idempotent=True)  # writes history/ afresh from the registry each time
def task_history(params: TaskHistoryParams, *, progress=None) -> TaskHistoryResult:
    """How has this task evolved? One row per model version: the metric on the followed eval set with its 95%
    interval, judge win rate against the previous and the shipped version (when judged), cost per 1,000
    requests and latency p95 (when recorded), and which versions were shipped. Also the cost/quality frontier
    across versions, the regression timeline per eval set (item ids that broke or were fixed by each version),
    and two plots. Reads the workspace registry; writes history/ (history.json, quality.png, frontier.png).
    """
    from specialize.evaluation import history

    doc = history.build(results=params.results, names=params.names, eval_set=params.eval_set, metric=params.metric,
                        judgments=params.judgments)
    out_dir = resolve_path(params.output_dir, arg="output_dir", for_write=True)
    make_dirs(out_dir, arg="output_dir")
    plots: dict[str, Any] = history.plot(doc, out_dir) if params.plots else {}
    doc.update(plots)
    doc["tracker"] = _tracker().model_dump(mode="json")
    path = out_dir / "history.json"
    write_text(path, json.dumps(doc, indent=1, default=str), arg="output_dir")
    return TaskHistoryResult.model_validate({**{k: v for k, v in doc.items() if k != "kind"},
                                             "history_path": rel(path)})


__all__ = ["task_history", "TaskHistoryParams", "TaskHistoryResult"]
