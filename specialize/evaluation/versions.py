"""The shipped version and per-item changes between versions.

A ``ship`` decision of the release gate is recorded in ``registry/shipped.jsonl`` with a copy of every run_eval
results file the gate looked at (``registry/shipped/<ship_id>/``): run_eval's default output path is the same for
two adapters on one base model, so the original file may later hold another version's results, and the copy is
what "the shipped version" means from then on. The next gate finds the shipped results for its eval set by the
set's sha256 and compares against them by default.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from specialize.runtime import registry
from specialize.runtime.workspace import rel, workspace_root


def load_results(path: Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def eval_set_sha(doc: dict[str, Any]) -> str | None:
    return (doc.get("eval_set") or {}).get("sha256")


def item_outcomes(doc: dict[str, Any]) -> dict[str, bool]:
    """Item id -> right or not, from a results document's examples."""
    return {str(e["id"]): bool(e.get("correct")) for e in doc.get("examples") or [] if "id" in e}


def regressed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Ids the earlier results got right and the later ones get wrong (items both scored)."""
    b, a = item_outcomes(before), item_outcomes(after)
    return sorted(i for i in a if b.get(i) and not a[i])


def fixed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Ids the earlier results got wrong and the later ones get right (items both scored)."""
    b, a = item_outcomes(before), item_outcomes(after)
    return sorted(i for i in a if i in b and not b[i] and a[i])


def shared_items(before: dict[str, Any], after: dict[str, Any]) -> int:
    return len(set(item_outcomes(before)) & set(item_outcomes(after)))


def shipped_results(entry: dict[str, Any] | None, sha256: str | None) -> Path | None:
    """The shipped version's results copy for the eval set with this sha256, if the ship recorded one."""
    if not entry or not sha256:
        return None
    for item in entry.get("results", []):
        if item.get("eval_set_sha256") == sha256:
            path = workspace_root() / item["snapshot"]
            if path.exists():
                return path
    return None


def record_ship(*, version: str, model: dict[str, Any], files: dict[str, Path], summary: dict[str, Any]) -> dict[str, Any]:
    """Record a ship decision with copies of its results files; shipping the same candidate results again (same
    content) returns the existing record instead of adding a second one."""
    cand_sha = registry.sha256_file(files["candidate"])
    last = registry.last_shipped()
    if last and last.get("candidate_sha256") == cand_sha:
        return last
    ship_id = f"ship-{len(registry.shipped()) + 1:03d}"
    folder = registry.registry_dir() / "shipped" / ship_id
    folder.mkdir(parents=True, exist_ok=True)
    results, seen = [], set()
    for arg, path in files.items():
        doc = load_results(path)
        sha = eval_set_sha(doc)
        if sha in seen:  # one results file per eval set (the candidate's wins: it comes first)
            continue
        seen.add(sha)
        copy = folder / f"{arg}.json"
        shutil.copyfile(path, copy)
        results.append({"arg": arg, "source": rel(path), "snapshot": rel(copy), "eval_set_sha256": sha,
                        "eval_set": (doc.get("eval_set") or {}).get("path"), "primary_metric": doc.get("primary_metric"),
                        "value": (doc.get("metrics") or {}).get(doc.get("primary_metric"))})
    return registry.record_ship({"ship_id": ship_id, "version": version, "model": model,
                                 "candidate": rel(files["candidate"]), "candidate_sha256": cand_sha,
                                 "results": results, **summary})


__all__ = ["load_results", "eval_set_sha", "item_outcomes", "regressed", "fixed", "shared_items", "shipped_results",
           "record_ship"]
