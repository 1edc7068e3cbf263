"""split_dataset: deterministic train/dev/test splits that keep related rows together, and a locked golden set.

Rows are grouped by a field (``meta.scenario``, ``source``, ``customer``...) and/or by near-duplicate cluster
(validate_rows's similarity: normalised words and word pairs, numbers as facts, MinHash LSH with an exact
check; ``specialize.data.dedupe.similar_texts``), so related rows never straddle splits. Groups are ordered by a
seeded hash and cut at the ratio boundaries: the same input and seed always give the same split. A golden set is
carved once, written read-only and recorded as locked; every later split removes rows that match it (same or
near-identical input).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from typing import Any

from pydantic import Field

from specialize.runtime.catalog import tool
from specialize.runtime.errors import InvalidInput
from specialize.runtime.jsonl import iter_lines
from specialize.runtime.schema import Params, Result
from specialize.runtime.workspace import (InputFile, InputOrNewFile, OutputDir, make_dirs, open_write, rel,
                                         resolve_path, write_text)

SPLITS = ("train", "dev", "test")


class SplitDatasetParams(Params):
    input_path: InputFile = Field(description="JSONL of accepted rows (e.g. data/validated/x/accepted.jsonl).")
    out_dir: OutputDir | None = Field(None, description="Folder for train/dev/test.jsonl (default data/splits/<name>).")
    ratios: list[float] | None = Field(None, description="train, dev, test shares; default 0.8/0.1/0.1, or "
                                       "0.7/0.15/0.15 below small_threshold rows.")
    small_threshold: int = Field(1000, ge=0, description="Below this many rows the small-set ratios apply.")
    seed: int = Field(0, description="Seed of the split; the same seed gives the same split.")
    group_by: str | None = Field(None, description="Dotted field whose rows stay together (meta.scenario, "
                                 "source, meta.customer).")
    group_near_duplicates: bool = Field(True, description="Also keep near-duplicate inputs in one split.")
    near_dup_threshold: float = Field(0.6, ge=0.3, le=1.0, description="Similarity of two inputs (the one "
                                      "validate_rows uses for near duplicates) at or above which they are "
                                      "related and stay in one split; below validate_rows's near-duplicate "
                                      "threshold so that rows closer than unrelated ones but not copies also "
                                      "stay together.")
    # read when it exists (a bundled set too), carved inside the workspace when it does not
    golden_path: InputOrNewFile | None = Field(None, description="Locked golden set. If it exists, rows matching "
                                               "it are kept out of every split; if not and golden_size > 0, it is "
                                               "carved here.")
    golden_size: int = Field(0, ge=0, description="Rows to carve into a new golden set (whole groups).")


class SplitDatasetResult(Result):
    paths: dict[str, str] = Field(description="train/dev/test file paths.")
    counts: dict[str, int] = Field(description="Rows per split.")
    versions: dict[str, str] = Field(description="Dataset version of each split (and golden when carved).")
    ratios: list[float] = Field(description="Ratios used.")
    groups: int = Field(description="Groups (field value and near-duplicate clusters) that were split.")
    golden_path: str | None = Field(None, description="The locked golden set.")
    golden_rows: int = Field(0, description="Rows in the golden set.")
    golden_excluded: int = Field(0, description="Input rows kept out because they match the golden set.")
    excluded_path: str | None = Field(None, description="Rows kept out (golden matches, unparsable), with reasons.")
    skipped: int = Field(0, description="Unparsable lines (written to the excluded file).")


def _field(row: dict[str, Any], dotted: str) -> Any:
    cur: Any = row
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


class _Union:
    def __init__(self, n: int) -> None:
        self.p = list(range(n))

    def find(self, x: int) -> int:
        while self.p[x] != x:
            self.p[x] = self.p[self.p[x]]
            x = self.p[x]
        return x

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.p[max(ra, rb)] = min(ra, rb)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@tool(idempotent=True)
def split_dataset(params: SplitDatasetParams, *, progress=None) -> SplitDatasetResult:
    """Split accepted rows into train/dev/test (80/10/10; 70/15/15 for small sets), deterministic by seed.

    Rows sharing group_by's value or a near-duplicate cluster land in the same split. A golden set is carved
    once (golden_size) into a read-only, registry-locked file; later splits never use rows that match it.
    Every split is recorded as a dataset version with its parents.
    """
    from specialize.data.dedupe import similar_texts
    from specialize.data.formats import detect_format, input_text
    from specialize.runtime import registry

    src = resolve_path(params.input_path, arg="input_path", must_exist=True)
    out_dir = resolve_path(params.out_dir or f"data/splits/{src.stem if src.stem != 'accepted' else src.parent.name}",
                           arg="out_dir", for_write=True)
    make_dirs(out_dir, arg="out_dir")
    rows: list[dict[str, Any]] = []
    raw: list[str] = []
    excluded: list[dict[str, Any]] = []
    for line in iter_lines(src):
        row = line.obj
        if not isinstance(row, dict) or detect_format(row) is None:
            excluded.append({"line": line.lineno, "reason": "unparsable_row", "raw": line.raw[:2000]})
            continue
        rows.append(row)
        raw.append(line.raw)
    skipped = len(excluded)
    texts = [input_text(r) for r in rows]

    golden_rows, golden_version, golden_file, golden_excluded = 0, None, None, 0
    if params.golden_path:
        golden_file = resolve_path(params.golden_path, arg="golden_path")  # an existing set may be read-only data
        if not golden_file.exists():
            golden_file = resolve_path(params.golden_path, arg="golden_path", for_write=True)  # it will be carved
        if golden_file.exists():
            gtexts = [input_text(json.loads(x)) for x in golden_file.read_text().splitlines() if x.strip()]
            golden_rows = len(gtexts)
            keep = _not_matching(texts, gtexts, params.near_dup_threshold)
            for i in range(len(rows)):
                if not keep[i]:
                    excluded.append({"line": None, "reason": "matches_locked_golden", "row": rows[i]})
            golden_excluded = sum(1 for k in keep if not k)
            rows = [r for r, k in zip(rows, keep) if k]
            raw = [r for r, k in zip(raw, keep) if k]
            texts = [t for t, k in zip(texts, keep) if k]
            golden_version = registry.find_dataset(golden_file)["version"]

    n = len(rows)
    if n == 0:
        raise InvalidInput(f"{params.input_path} has no usable rows to split.", fix="Run validate_rows first.")
    union = _Union(n)
    if params.group_by:
        first: dict[str, int] = {}
        for i, r in enumerate(rows):
            key = _field(r, params.group_by)
            if key is None:
                continue
            k = json.dumps(key, sort_keys=True)
            if k in first:
                union.join(first[k], i)
            else:
                first[k] = i
    if params.group_near_duplicates and n > 1:
        pairs, _ = similar_texts(texts, threshold=params.near_dup_threshold)
        for a, b in pairs.tolist():
            union.join(a, b)
        seen: dict[str, int] = {}
        for i, t in enumerate(texts):
            j = seen.setdefault(_norm(t), i)
            if j != i:
                union.join(j, i)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(union.find(i), []).append(i)

    def order_key(members: list[int]) -> str:
        # surrogatepass: a row may carry a lone surrogate (valid JSON escape, not valid UTF-8)
        return hashlib.sha256(f"{params.seed}:{_norm(texts[members[0]])}".encode("utf-8", "surrogatepass")).hexdigest()

    ordered = sorted(groups.values(), key=order_key)
    versions: dict[str, str] = {}
    if golden_file is not None and not golden_file.exists() and params.golden_size > 0:
        carved: list[int] = []
        rest = []
        for g in ordered:
            if len(carved) < params.golden_size:
                carved.extend(g)
            else:
                rest.append(g)
        make_dirs(golden_file.parent, arg="golden_path")
        with open_write(golden_file, "w", arg="golden_path", exclusive=True, encoding="utf-8") as fh:
            fh.write("".join(raw[i] + "\n" for i in sorted(carved)))
        os.chmod(golden_file, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        entry = registry.record_dataset(golden_file, kind="golden", parents=[registry.find_dataset(src)["version"]],
                                        config={"seed": params.seed, "golden_size": params.golden_size},
                                        extra={"locked": True})
        golden_version, golden_rows = entry["version"], len(carved)
        versions["golden"] = golden_version
        ordered = rest
    total = sum(len(g) for g in ordered)
    ratios = params.ratios or ([0.7, 0.15, 0.15] if total < params.small_threshold else [0.8, 0.1, 0.1])
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise InvalidInput(f"ratios {ratios} must be three non-negative shares.", fix="e.g. [0.8, 0.1, 0.1].")
    s = sum(ratios)
    ratios = [r / s for r in ratios]
    bounds = [ratios[0] * total, (ratios[0] + ratios[1]) * total]
    assigned: dict[str, list[int]] = {k: [] for k in SPLITS}
    pos = 0
    for g in ordered:
        mid = pos + len(g) / 2
        name = "train" if mid < bounds[0] else ("dev" if mid < bounds[1] else "test")
        assigned[name].extend(g)
        pos += len(g)
    parents = [registry.find_dataset(src)["version"]] + ([golden_version] if golden_version else [])
    paths, counts = {}, {}
    for name in SPLITS:
        path = out_dir / f"{name}.jsonl"
        write_text(path, "".join(raw[i] + "\n" for i in sorted(assigned[name])), arg="out_dir")
        paths[name], counts[name] = rel(path), len(assigned[name])
        versions[name] = registry.record_dataset(path, kind=f"split:{name}", parents=parents, config={
            "seed": params.seed, "ratios": ratios, "group_by": params.group_by,
            "group_near_duplicates": params.group_near_duplicates,
            "near_dup_threshold": params.near_dup_threshold})["version"]
    excluded_path = None
    if excluded:
        ex = out_dir / "excluded.jsonl"
        from specialize.data.formats import dumps_line

        write_text(ex, "".join(dumps_line(e) + "\n" for e in excluded), arg="out_dir")
        excluded_path = rel(ex)
    return SplitDatasetResult(paths=paths, counts=counts, versions=versions, ratios=[round(r, 4) for r in ratios],
                              groups=len(ordered), golden_path=rel(golden_file) if golden_file else None,
                              golden_rows=golden_rows, golden_excluded=golden_excluded,
                              excluded_path=excluded_path, skipped=skipped)


def _not_matching(texts: list[str], golden: list[str], threshold: float) -> list[bool]:
    from specialize.data.dedupe import similar_texts

    gset = {_norm(t) for t in golden}
    keep = [_norm(t) not in gset for t in texts]
    pairs, _ = similar_texts(texts + golden, threshold=threshold)
    n = len(texts)
    for a, b in pairs.tolist():
        if a < n <= b:
            keep[a] = False
    return keep
