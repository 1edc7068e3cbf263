"""Benchmark validate_rows on a large synthetic chat set with planted near duplicates, exact duplicates and
eval leaks; then compare near-duplicate detection with datasketch's per-shingle ``update`` at equal recall.

    python bench/bench_validate.py                 # 1,000,000 rows (a few minutes on 2 cores)
    python bench/bench_validate.py --rows 100000   # quicker

Prints: end-to-end rows/s, recall and precision on the planted near duplicates and leaks, and the speed ratio
of our near-duplicate path (rensa signatures + LSH + exact verification) over datasketch on the same subset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CATS = ["billing", "refund", "shipping", "account_access", "bug_report", "other"]
PRIOS = ["low", "normal", "high", "urgent"]


def make_vocab(rng: random.Random, n: int = 30000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return list({"".join(rng.choices(letters, k=rng.randint(3, 8))) for _ in range(n)})


def base_text(rng: random.Random, vocab: list[str]) -> str:
    return " ".join(rng.choices(vocab, k=rng.randint(38, 46)))


def edit(rng: random.Random, text: str, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(rng.randint(1, 2)):
        kind = rng.randrange(4)
        k = rng.randrange(len(words))
        if kind == 0:
            words[k] = rng.choice(vocab)
        elif kind == 1 and len(words) > 10:
            del words[k]
        elif kind == 2:
            words.insert(k, rng.choice(vocab))
        else:
            w = words[k]
            words[k] = w[:-1] + "x" if len(w) > 1 else "x"
    return " ".join(words)


def row(text: str, out: tuple[str, str], i: int) -> str:
    return json.dumps({"id": f"r{i}", "messages": [
        {"role": "user", "content": text},
        {"role": "assistant", "content": json.dumps({"category": out[0], "priority": out[1]}, separators=(",", ":"))}],
        "meta": {"category": out[0], "difficulty": "medium"}})


def build(path: Path, eval_path: Path, n: int, seed: int = 0) -> dict[str, set[int]]:
    rng = random.Random(seed)
    vocab = make_vocab(rng)
    evals = [(base_text(rng, vocab), (rng.choice(CATS), rng.choice(PRIOS))) for _ in range(10000)]
    with open(eval_path, "w") as fh:
        for i, (t, o) in enumerate(evals):
            fh.write(row(t, o, i) + "\n")
    truth: dict[str, set[int]] = {"near": set(), "exact": set(), "leak": set()}
    bases: list[tuple[str, tuple[str, str]]] = []
    chars = 0
    with open(path, "w") as fh:
        for i in range(n):
            r = rng.random()
            if bases and r < 0.05:
                t, o = rng.choice(bases)
                t, kind = edit(rng, t, vocab), "near"
            elif bases and r < 0.06:
                t, o = rng.choice(bases)
                kind = "exact"
            elif r < 0.07:
                t, o = rng.choice(evals)
                t = t if rng.random() < 0.5 else edit(rng, t, vocab)
                kind = "leak"
            else:
                t, o = base_text(rng, vocab), (rng.choice(CATS), rng.choice(PRIOS))
                bases.append((t, o))
                kind = None
            line = row(t, o, i) if kind != "exact" else row(t, o, -1)
            chars += len(t) + 40
            if kind:
                truth[kind].add(i + 1)
            fh.write(line + "\n")
    truth["avg_chars"] = chars / n  # type: ignore[assignment]
    return truth


def pr(found: set[int], truth: set[int]) -> tuple[float, float]:
    tp = len(found & truth)
    return tp / max(1, len(truth)), tp / max(1, len(found))


def near_dup_ours(texts: list[str], threshold: float) -> tuple[set[int], float]:
    from specialize.data.dedupe import TokenTable, similar_pairs

    t0 = time.perf_counter()
    pairs, _ = similar_pairs(TokenTable.from_texts(texts).kgrams(3), threshold=threshold, num_perm=64)
    return {int(j) for _, j in pairs.tolist()}, time.perf_counter() - t0


def near_dup_datasketch(texts: list[str], threshold: float, num_perm: int = 64,
                        lsh_threshold: float = 0.5) -> tuple[set[int], float]:
    """datasketch with the per-shingle update path; its LSH is set below the target threshold (0.5) so its
    recall matches ours, and candidates get the same exact-Jaccard check."""
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=lsh_threshold, num_perm=num_perm)
    sets, found = [], set()
    for i, t in enumerate(texts):
        w = t.lower().split()
        sh = {" ".join(w[k:k + 3]) for k in range(max(1, len(w) - 2))}
        m = MinHash(num_perm=num_perm, seed=7)
        for s in sh:  # the per-shingle update path
            m.update(s.encode())
        for j in lsh.query(m):
            other = sets[j]
            if len(sh & other) / len(sh | other) >= threshold:  # same exact verification as ours
                found.add(i)
                break
        lsh.insert(i, m)
        sets.append(sh)
    return found, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=50_000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    ws = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    os.environ["SPECIALIZE_WORKSPACE"] = str(ws)
    t0 = time.perf_counter()
    truth = build(ws / "rows.jsonl", ws / "eval.jsonl", args.rows)
    print(f"built {args.rows:,} rows in {time.perf_counter() - t0:.1f}s (avg {truth['avg_chars']:.0f} chars); "
          f"planted near={len(truth['near']):,} exact={len(truth['exact']):,} leak={len(truth['leak']):,}")
    print(f"cores available: {os.cpu_count()}, workers: {args.workers}")

    import resource

    from specialize.tools.validate import ValidateRowsParams, run_validation

    def cpu() -> tuple[float, float]:
        me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime

    load = os.getloadavg()[0]
    c0 = cpu()
    t1 = time.perf_counter()
    res = run_validation(ValidateRowsParams(input_path="rows.jsonl", eval_sets=["eval.jsonl"], workers=args.workers,
                                            record_version=False))
    dt = time.perf_counter() - t1
    c1 = cpu()
    main_cpu, kid_cpu = c1[0] - c0[0], c1[1] - c0[1]
    # the workers' part splits over the cores; the main process's cross-row part runs after it, alone
    ideal = kid_cpu / max(1, args.workers) + main_cpu
    print(f"validate_rows end to end: {dt:.1f}s wall, {args.rows / dt:,.0f} rows/s (target >= 20,000); "
          f"machine load average at start {load:.1f} on {os.cpu_count()} cores")
    print(f"  CPU time: main process {main_cpu:.1f}s + workers {kid_cpu:.1f}s = {main_cpu + kid_cpu:.1f}s "
          f"({(main_cpu + kid_cpu) / args.rows * 1e6:.0f} us/row); with {args.workers} unshared cores that is about "
          f"{args.rows / ideal:,.0f} rows/s")
    print(f"  stages (s): {res.stage_seconds}")
    print(f"  accepted {res.accepted:,}, rejected {res.rejected:,}, by gate {res.by_gate}")
    got: dict[str, set[int]] = {"near_dup": set(), "exact_dup": set(), "eval_leak": set()}
    with open(ws / res.rejected_path) as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["gate"] in got:
                got[rec["gate"]].add(rec["line"])
    for gate, key in (("near_dup", "near"), ("eval_leak", "leak"), ("exact_dup", "exact")):
        rec_, prec = pr(got[gate], truth[key])
        print(f"  {gate:9s}: recall {rec_:.4f}  precision {prec:.4f}  (planted {len(truth[key]):,}, flagged "
              f"{len(got[gate]):,})")

    # near-duplicate detection alone, ours vs datasketch, on the first baseline-rows rows
    m = min(args.baseline_rows, args.rows)
    texts = []
    with open(ws / "rows.jsonl") as fh:
        for _, line in zip(range(m), fh):
            texts.append(json.loads(line)["messages"][0]["content"])
    sub_truth = {i - 1 for i in truth["near"] | truth["exact"] if i <= m}
    ours, t_ours = near_dup_ours(texts, 0.7)
    theirs, t_ds = near_dup_datasketch(texts, 0.7)
    r1, p1 = pr(ours, sub_truth)
    r2, p2 = pr(theirs, sub_truth)
    print(f"near-dup detection on {m:,} rows: ours {t_ours:.2f}s (recall {r1:.4f}, precision {p1:.4f}); "
          f"datasketch per-shingle update {t_ds:.2f}s (recall {r2:.4f}, precision {p2:.4f}); "
          f"speed-up {t_ds / t_ours:.1f}x (target >= 10x)")


if __name__ == "__main__":
    main()
