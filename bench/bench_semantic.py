"""Calibrate the semantic duplicate gate (validate_rows ``semantic_dedupe``) on paraphrase pairs, and measure its
embedding speed.

    python bench/bench_semantic.py                  # the embedded all-MiniLM-L6-v2, seeds 0 (calibrate) and 1
    python bench/bench_semantic.py --model <folder or hub id>

Pairs come from bench/neardup_corpus.py (``paraphrase_pairs``): each English template filled with facts, paired
with a rewording that keeps the facts (a paraphrase: should be caught) and with the same template filled with
other facts (a hard negative: should be kept). The cosine of the two embeddings is scored as the gate scores it:
as is, and capped by the agreement of the two texts' facts, numbers and names
(``specialize.data.dedupe.fact_agreement``), as validate_rows does. The threshold is the one with the highest recall at precision >= 0.98 on seed 0; seed 1 is
reported at it. Speed is rows embedded per second of wall time and CPU time per row (process time, all threads;
on a shared machine the wall figure is inflated).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neardup_corpus import paraphrase_pairs  # noqa: E402

TARGET_PRECISION = 0.98


def scores(pairs, model: str) -> tuple[dict[str, np.ndarray], np.ndarray, float, float, int]:
    from specialize.data import semantic
    from specialize.data.dedupe import fact_agreement, similar_texts
    from specialize.data.normalize import normalized_tables

    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    index = {t: k for k, t in enumerate(texts)}
    semantic.embed(texts[:8], model)  # load the model outside the timing
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = semantic.embed(texts, model)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    a = np.asarray([index[x] for x, _, _ in pairs])
    b = np.asarray([index[y] for _, y, _ in pairs])
    cosine = np.einsum("ij,ij->i", vectors[a], vectors[b]).astype(np.float64)
    facts = normalized_tables(texts)[1]
    capped = np.minimum(cosine, fact_agreement(facts, a, facts, b))
    # the word gate's similarity on the same pairs (0 when below 0.3: not a candidate at all)
    got, sims = similar_texts(texts, threshold=0.3)
    word = {(int(i), int(j)): float(s) for (i, j), s in zip(got.tolist(), sims.tolist())}
    lexical = np.asarray([word.get((min(i, j), max(i, j)), 0.0) for i, j in zip(a.tolist(), b.tolist())])
    same = np.asarray([s for _, _, s in pairs])
    return {"cosine": cosine, "cosine capped by facts": capped, "word similarity": lexical}, same, wall, cpu, \
        len(texts)


def pr(sim: np.ndarray, same: np.ndarray, t: float) -> tuple[float, float]:
    hit = sim >= t
    tp = int((hit & same).sum())
    return tp / max(1, int(same.sum())), tp / max(1, int(hit.sum()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded:all-minilm-l6-v2")
    ap.add_argument("--per-template", type=int, default=10)
    ap.add_argument("--no-other-requests", action="store_true",
                    help="leave out the negatives that are another request with the same facts (the earlier bench)")
    args = ap.parse_args()
    cal = paraphrase_pairs(0, args.per_template, other_requests=not args.no_other_requests)
    held = paraphrase_pairs(1, args.per_template, other_requests=not args.no_other_requests)
    kinds = "paraphrases; same template, other facts" + ("" if args.no_other_requests else
                                                            "; another request, same facts")
    print(f"{len(cal)} pairs per seed ({kinds}); model {args.model}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    cal_scores, cal_same, *_ = scores(cal, args.model)
    held_scores, held_same, wall, cpu, n = scores(held, args.model)
    print(f"embedding: {n} texts in {wall:.2f}s wall = {n / wall:,.0f} rows/s; CPU {cpu / n * 1e3:.2f} ms/row "
          f"(process time over all threads)")
    for name in cal_scores:
        best = None
        for t in np.round(np.arange(0.30, 1.0, 0.01), 2):
            r, p = pr(cal_scores[name], cal_same, t)
            if p >= TARGET_PRECISION and (best is None or r > best[1]):
                best = (float(t), r, p)
        if best is None:
            print(f"  {name:25s} no threshold reaches precision {TARGET_PRECISION} on seed 0")
            continue
        r, p = pr(held_scores[name], held_same, best[0])
        print(f"  {name:25s} threshold {best[0]:.2f} (seed 0: recall {best[1]:.3f} precision {best[2]:.3f}); "
              f"held out (seed 1): recall {r:.3f} precision {p:.3f}")
        for t in (0.7, 0.75, 0.8, 0.85, 0.9):
            r, p = pr(held_scores[name], held_same, t)
            print(f"      at {t:.2f} held out: recall {r:.3f} precision {p:.3f}")


if __name__ == "__main__":
    main()
