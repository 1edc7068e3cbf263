"""How a task evolved across model versions, from the registry and the run_eval / judge files it points to.

A *version* is one model as run_eval saw it: model reference, adapter, system prompt, decoding mode and few-shot
examples (two adapters on one base model are two versions; the same model with a better prompt is another).
Versions are numbered in the order they were first evaluated. For each version: the chosen eval set's metric with
its bootstrap interval, cost per 1,000 requests and latency p95 (when run_eval recorded them), the judge's win rate
against the previous and against the shipped version (when a run_pairwise_judge compared them), and whether it was
shipped. Across versions: the cost/quality frontier and, per eval set scored by two or more versions, the
regression timeline (items a version got wrong that the version before it got right, by id).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from specialize.evaluation import versions as V
from specialize.runtime import registry
from specialize.runtime.errors import InvalidInput
from specialize.runtime.workspace import make_dirs, open_write, rel, resolve_path, workspace_root


def version_key(doc: dict[str, Any]) -> str:
    """What makes two results files the same version: model, adapter, system prompt, decoding, few-shot shots."""
    model = doc.get("model") or {}
    prov = doc.get("provenance") or {}
    params = prov.get("params") or {}
    parts = {"ref": model.get("ref") or params.get("model"), "adapter": model.get("adapter") or params.get("adapter"),
             "system": prov.get("system_prompt_sha256"), "decoding": prov.get("decoding_mode"),
             "shots": (prov.get("few_shot") or {}).get("ids")}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _describe_model(doc: dict[str, Any]) -> str:
    model = doc.get("model") or {}
    ref = str(model.get("ref") or "?")
    adapter = model.get("adapter")
    mode = (doc.get("provenance") or {}).get("decoding_mode")
    extra = [f"adapter {adapter}"] if adapter else []
    if (doc.get("provenance") or {}).get("system_prompt_sha256"):
        extra.append("own system prompt")
    if mode and mode != "unconstrained":
        extra.append(mode)
    if ((doc.get("provenance") or {}).get("few_shot") or {}).get("k"):
        extra.append(f"{doc['provenance']['few_shot']['k']}-shot")
    return ref + (f" ({', '.join(extra)})" if extra else "")


def _observations_from_registry() -> tuple[list[dict[str, Any]], list[str]]:
    """Every run_eval in the registry whose results file still holds that run (oldest first)."""
    obs, notes = [], []
    for i, entry in enumerate(registry.runs()):
        if entry.get("kind") != "eval" or not entry.get("results"):
            continue
        path = workspace_root() / entry["results"]
        if not path.exists():
            notes.append(f"{entry['results']}: results file gone; that run is left out.")
            continue
        doc = V.load_results(path)
        value = (doc.get("metrics") or {}).get(entry.get("primary_metric"))
        if V.eval_set_sha(doc) != entry.get("eval_set_sha256") or (
                entry.get("value") is not None and value is not None and abs(value - entry["value"]) > 1e-12):
            notes.append(f"{entry['results']}: the file now holds a later run than the one recorded at "
                         f"{entry.get('recorded_at')}; that earlier run is left out (give run_eval an 'output' "
                         "per version to keep each).")
            continue
        obs.append({"path": path, "doc": doc, "order": i, "at": entry.get("recorded_at")})
    # the same file recorded twice (re-run): keep its last record only
    last = {str(o["path"]): o for o in obs}
    return sorted(last.values(), key=lambda o: o["order"]), notes


def _observations_from_files(files: list[str], names: list[str] | None) -> list[dict[str, Any]]:
    if names is not None and len(names) != len(files):
        raise InvalidInput(f"{len(names)} names for {len(files)} results files.",
                           fix="Give one name per results file (files of one version share its name), or leave "
                               "names out (each file is then a version).")
    out = []
    for i, value in enumerate(files):
        path = resolve_path(value, arg="results", must_exist=True)
        doc = V.load_results(path)
        if doc.get("kind") != "eval_results":
            raise InvalidInput(f"{value} is not a run_eval results file.", fix="Pass JSON files written by run_eval.")
        out.append({"path": path, "doc": doc, "order": i, "at": (doc.get("provenance") or {}).get("created_at"),
                    "key": names[i] if names else f"file-{i}"})
    return out


def _pick_set(obs: list[dict[str, Any]], wanted: str | None, shipped: dict[str, Any] | None) -> str | None:
    """The eval set (sha256) the quality chart follows."""
    shas = {V.eval_set_sha(o["doc"]): (o["doc"].get("eval_set") or {}).get("path") for o in obs}
    if wanted:
        for sha, path in shas.items():
            if wanted in (sha, path):
                return sha
        resolved = resolve_path(wanted, arg="eval_set", must_exist=True)
        sha = registry.sha256_file(resolved)
        if sha in shas:
            return sha
        raise InvalidInput(f"No version was evaluated on {wanted}.", fix="Pick an eval set run_eval has scored, or "
                                                                          "leave eval_set out.")
    if shipped:
        for item in shipped.get("results", []):
            if item.get("arg") == "candidate" and item.get("eval_set_sha256") in shas:
                return item["eval_set_sha256"]
    counts: dict[str, set[str]] = {}
    for o in obs:
        counts.setdefault(V.eval_set_sha(o["doc"]) or "", set()).add(o["key"])
    return max(counts, key=lambda s: len(counts[s])) if counts else None


def _win_rates(judgment_files: list[Path], path_to_version: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(version a, version b) -> a's win rate over b (ties half) with its interval, from judgments files."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for jpath in judgment_files:
        doc = json.loads(jpath.read_text())
        responses = ((doc.get("provenance") or {}).get("params") or {}).get("responses") or []
        names = doc.get("models") or []
        by_name = {}
        for name, resp in zip(names, responses):
            try:
                key = str(resolve_path(resp, arg="responses"))
            except Exception:
                continue
            if key in path_to_version:
                by_name[name] = path_to_version[key]
        for pair in doc.get("pairs") or []:
            a, b = by_name.get(pair.get("model_a")), by_name.get(pair.get("model_b"))
            w = pair.get("win_rate_ties_half")
            if not a or not b or a == b or w is None:
                continue
            lo, hi = pair.get("ci_low"), pair.get("ci_high")
            rec = {"judgments": rel(jpath), "n_items": pair.get("n_items")}
            out[(a, b)] = {**rec, "win_rate": w, "ci": [lo, hi]}
            out[(b, a)] = {**rec, "win_rate": 1 - w, "ci": [None if hi is None else 1 - hi,
                                                            None if lo is None else 1 - lo]}
    return out


def pareto(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the points no other point beats: (name, cost, quality); lower cost and higher quality are better,
    and a point is beaten by one at most as dear and at least as good, better on one of the two."""
    keep = []
    for name, cost, q in points:
        beaten = any((c2 <= cost and q2 >= q) and (c2 < cost or q2 > q) for n2, c2, q2 in points if n2 != name)
        if not beaten:
            keep.append(name)
    return keep


def build(*, results: list[str] | None = None, names: list[str] | None = None, eval_set: str | None = None,
          metric: str | None = None, judgments: list[str] | None = None) -> dict[str, Any]:
    """The history document (see the module docstring); plots are drawn separately by ``plot``."""
    shipped_all = registry.shipped()
    shipped = shipped_all[-1] if shipped_all else None
    notes: list[str] = []
    if results:
        obs = _observations_from_files(results, names)
        names = list(dict.fromkeys(names)) if names else None  # one name per version from here on
    else:
        obs, notes = _observations_from_registry()
        for o in obs:
            o["key"] = version_key(o["doc"])
    if not obs:
        raise InvalidInput("No run_eval results to build a history from.",
                           fix="Run run_eval on each model version (the registry records them), or pass 'results'.")
    # versions in order of first evaluation
    order: list[str] = []
    for o in obs:
        if o["key"] not in order:
            order.append(o["key"])
    if names is not None and len(names) != len(order):
        raise InvalidInput(f"{len(names)} names for {len(order)} versions.", fix="Give one name per version, or "
                                                                                  "leave names out.")
    ship_keys: dict[str, list[dict[str, Any]]] = {}
    for s in shipped_all:
        snap = V.shipped_results(s, next((r["eval_set_sha256"] for r in s.get("results", [])
                                          if r.get("arg") == "candidate"), None))
        if snap is None:
            continue
        snap_doc = V.load_results(snap)
        if results:  # explicit files: a ship matches the file with the same content
            digest = s.get("candidate_sha256")
            key = next((o["key"] for o in obs if registry.sha256_file(o["path"]) == digest), None)
        else:
            key = version_key(snap_doc)
        if key:
            ship_keys.setdefault(key, []).append(s)
    labels = {}
    for i, key in enumerate(order):
        shipped_as = [s["version"] for s in ship_keys.get(key, [])]
        labels[key] = names[i] if names else (shipped_as[-1] if shipped_as and shipped_as[-1] else f"v{i + 1}")
    if len(set(labels.values())) != len(labels):  # a ship name reused: fall back to numbers for all
        labels = {key: names[i] if names else f"v{i + 1}" for i, key in enumerate(order)}
    chart_sha = _pick_set(obs, eval_set, shipped)
    latest: dict[tuple[str, str | None], dict[str, Any]] = {}
    for o in obs:
        latest[(o["key"], V.eval_set_sha(o["doc"]))] = o
    shipped_key = None
    if shipped:
        shipped_key = next((k for k, ss in ship_keys.items() if any(s["ship_id"] == shipped["ship_id"] for s in ss)),
                           None)
    path_to_version = {str(o["path"]): labels[o["key"]] for o in obs}
    jfiles = [resolve_path(j, arg="judgments", must_exist=True) for j in judgments] if judgments is not None else [
        workspace_root() / e["judgments"] for e in registry.runs()
        if e.get("kind") == "pairwise_judge" and (workspace_root() / e.get("judgments", "")).is_file()]
    wins = _win_rates(jfiles, path_to_version)
    chart_docs = [o["doc"] for o in obs if V.eval_set_sha(o["doc"]) == chart_sha]
    used_metric = metric or next((d.get("primary_metric") for d in chart_docs if d.get("primary_metric")), None)
    ship_label = labels.get(shipped_key) if shipped_key else None
    rows = []
    for i, key in enumerate(order):
        o = latest.get((key, chart_sha))
        mine = [x for x in obs if x["key"] == key]
        doc = o["doc"] if o else {}
        metrics = doc.get("metrics") or {}
        prev = labels[order[i - 1]] if i else None
        rows.append({
            "version": labels[key], "model": _describe_model(mine[0]["doc"]), "first_evaluated": mine[0].get("at"),
            "results_path": rel(o["path"]) if o else None, "metric": used_metric if o else None,
            "value": metrics.get(used_metric) if o else None, "ci": metrics.get(f"{used_metric}_ci") if o else None,
            "n": doc.get("n"), "cost_per_1k_requests_usd": doc.get("cost_per_1k_requests_usd"),
            "latency_p95_s": (doc.get("latency_s") or {}).get("p95"),
            "shipped": [s["ship_id"] for s in ship_keys.get(key, [])],
            "win_vs_previous": wins.get((labels[key], prev)) if prev else None,
            "win_vs_shipped": wins.get((labels[key], ship_label)) if ship_label and ship_label != labels[key]
            else None,
            "eval_sets": sorted({(x["doc"].get("eval_set") or {}).get("path") or "?" for x in mine}),
        })
    costed = [(r["version"], r["cost_per_1k_requests_usd"], r["value"]) for r in rows
              if r["cost_per_1k_requests_usd"] is not None and r["value"] is not None]
    frontier = {"metric": used_metric, "on_frontier": pareto(costed),
                "left_out": [r["version"] for r in rows if (r["version"], r["cost_per_1k_requests_usd"], r["value"])
                             not in costed]}
    timeline = []
    sets = {}
    for o in obs:
        sets.setdefault(V.eval_set_sha(o["doc"]), (o["doc"].get("eval_set") or {}).get("path"))
    for sha, set_path in sets.items():
        seq = [(key, latest[(key, sha)]) for key in order if (key, sha) in latest]
        for (k0, o0), (k1, o1) in zip(seq, seq[1:]):
            timeline.append({"eval_set": set_path, "eval_set_sha256": sha, "version": labels[k1],
                             "previous": labels[k0], "n_shared": V.shared_items(o0["doc"], o1["doc"]),
                             "regressed": V.regressed(o0["doc"], o1["doc"]), "fixed": V.fixed(o0["doc"], o1["doc"])})
    rank = {labels[k]: i for i, k in enumerate(order)}
    timeline.sort(key=lambda t: (rank[t["version"]], t["eval_set"] or ""))
    return {"kind": "task_history", "metric": used_metric, "eval_set_sha256": chart_sha,
            "eval_set": sets.get(chart_sha), "versions": rows,
            "shipped": labels.get(shipped_key) if shipped_key else None, "frontier": frontier,
            "regression_timeline": timeline, "notes": notes}


def plot(doc: dict[str, Any], out_dir: Path) -> dict[str, str | None]:
    """Quality over versions with 95% intervals, and quality against cost per 1,000 requests with the frontier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    make_dirs(out_dir, arg="output_dir")
    out: dict[str, str | None] = {"quality_plot": None, "frontier_plot": None}
    rows = [r for r in doc["versions"] if r["value"] is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.0 + 0.9 * len(rows)), 3.2))
        xs = list(range(len(rows)))
        ys = [r["value"] for r in rows]
        lo = [r["value"] - r["ci"][0] if r["ci"] and r["ci"][0] is not None else 0 for r in rows]
        hi = [r["ci"][1] - r["value"] if r["ci"] and r["ci"][1] is not None else 0 for r in rows]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o-", capsize=4, color="#1f5f8b", label=doc["metric"])
        ship = [i for i, r in enumerate(rows) if r["shipped"]]
        if ship:
            ax.scatter([xs[i] for i in ship], [ys[i] for i in ship], marker="*", s=180, color="#c0392b", zorder=3,
                       label="shipped")
        ax.set_xticks(xs, [r["version"] for r in rows])
        ax.set_ylabel(f"{doc['metric']} (95% CI)")
        ax.set_title(f"Quality over versions on {doc.get('eval_set') or 'the eval set'}", fontsize=9)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out["quality_plot"] = _save_png(fig, out_dir / "quality.png")
    costed = [r for r in rows if r["cost_per_1k_requests_usd"] is not None]
    if costed:
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        front = set(doc["frontier"]["on_frontier"])
        for r in costed:
            on = r["version"] in front
            ax.scatter(r["cost_per_1k_requests_usd"], r["value"], color="#c0392b" if on else "#7f8c8d", zorder=3)
            ax.annotate(r["version"], (r["cost_per_1k_requests_usd"], r["value"]), textcoords="offset points",
                        xytext=(4, 4), fontsize=8)
        line = sorted((r["cost_per_1k_requests_usd"], r["value"]) for r in costed if r["version"] in front)
        if len(line) > 1:
            ax.plot([c for c, _ in line], [q for _, q in line], "--", color="#c0392b", label="frontier")
            ax.legend(fontsize=8)
        ax.set_xlabel("cost per 1,000 requests (USD)")
        ax.set_ylabel(doc["metric"])
        ax.set_title("Cost / quality across versions", fontsize=9)
        fig.tight_layout()
        out["frontier_plot"] = _save_png(fig, out_dir / "frontier.png")
    return out


__all__ = ["build", "plot", "pareto", "version_key"]


def _save_png(fig, path: Path) -> str:
    """Write a matplotlib figure as PNG inside the workspace (no symlink followed), close it, return its path."""
    import matplotlib.pyplot as plt

    with open_write(path, "wb", arg="output_dir") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
    return rel(path)
