"""Checks on an exported GGUF file: its chat template and stop tokens against training, and quant coverage.

The round trip renders the same conversations twice -- with the Hugging Face tokenizer and the template the
model was trained with, and the way llama.cpp will (the template embedded in the GGUF, rendered by
llama-cpp-python's ``Jinja2ChatFormatter`` and tokenized by llama.cpp) -- and compares token ids. Any
difference is returned with both renderings so the caller can raise it as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from specialize.runtime.errors import JobError

# which tensor types count as "the requested quant" (k-quant mixes use a few neighbouring types on purpose)
INTENDED_TYPES = {
    "f16": {"F16"}, "bf16": {"BF16"}, "f32": {"F32"},
    "q8_0": {"Q8_0"},
    "q5_k_m": {"Q5_K", "Q6_K"},
    "q4_k_m": {"Q4_K", "Q5_K", "Q6_K"},
}
BARELY_APPLIES = 0.9  # below this share of weight elements in the intended types, the export says so


def load_vocab(gguf_path: Path):
    """A llama-cpp-python ``Llama`` holding only the vocabulary and metadata (fast, no weights)."""
    import llama_cpp

    return llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)


def token_text(llm, token_id: int) -> str:
    if token_id is None or token_id < 0:
        return ""
    return llm.detokenize([token_id], special=True).decode("utf-8", errors="replace")


def gguf_render(llm, messages: list[dict[str, Any]], add_generation_prompt: bool) -> tuple[str, list[int]]:
    """What llama-cpp-python's chat handler sends to the model: template from the GGUF, llama.cpp tokens."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    fmt = Jinja2ChatFormatter(template=template, eos_token=token_text(llm, llm.token_eos()),
                              bos_token=token_text(llm, llm.token_bos()),
                              add_generation_prompt=add_generation_prompt)
    prompt = fmt(messages=messages).prompt
    return prompt, llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)


def hf_render(tokenizer, template: str, messages, add_generation_prompt: bool) -> tuple[str, list[int]]:
    text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text, list(ids)


@dataclass
class RoundTrip:
    ok: bool
    checked: int
    eos_token: str
    gguf_eos_token: str
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"ok": self.ok, "conversations_checked": self.checked, "eos_token": self.eos_token,
                "gguf_eos_token": self.gguf_eos_token, "problems": self.problems,
                "mismatches": self.mismatches[:3]}

    def raise_if_failed(self, gguf_path: Path) -> None:
        if self.ok:
            return
        lines = [f"The GGUF {gguf_path.name} does not reproduce the training-time prompt."]
        lines += self.problems
        for m in self.mismatches[:2]:
            lines += [f"--- conversation {m['index']} ({m['part']}), first differing token at {m['first_diff']}",
                      "training (transformers) rendering:", repr(m["training_text"]),
                      f"  ids: {m['training_ids']}",
                      "GGUF (llama.cpp) rendering:", repr(m["gguf_text"]),
                      f"  ids: {m['gguf_ids']}"]
        raise JobError("\n".join(lines), fix="Embed the training chat template (leave embed_chat_template unset), "
                       "check eos_token in run.json, and re-export; a model served with another prompt format "
                       "will not behave as it did in evaluation.")


def _first_diff(a: list[int], b: list[int]) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_roundtrip(gguf_path: Path, tokenizer, training_template: str, eos_token: str,
                    conversations: list[list[dict[str, Any]]], llm=None) -> RoundTrip:
    """Compare the GGUF's chat template, tokenizer and EOS with the training-time ones on ``conversations``."""
    llm = llm or load_vocab(gguf_path)
    gguf_eos = token_text(llm, llm.token_eos())
    report = RoundTrip(ok=True, checked=0, eos_token=eos_token, gguf_eos_token=gguf_eos)
    if not llm.metadata.get("tokenizer.chat_template"):
        report.ok = False
        report.problems.append("The GGUF carries no tokenizer.chat_template: llama.cpp and Ollama would fall back "
                               "to a generic prompt format.")
        return report
    if gguf_eos != eos_token:
        report.ok = False
        report.problems.append(f"EOS differs: training used {eos_token!r}, the GGUF declares {gguf_eos!r}; "
                               "generation would not stop where the model learned to stop.")
    for index, conv in enumerate(conversations):
        report.checked += 1
        has_answer = conv and conv[-1]["role"] == "assistant"
        parts = [("prompt", conv[:-1] if has_answer else conv, True)]
        if has_answer:
            parts.append(("full", conv, False))
        for part, msgs, gen in parts:
            t_text, t_ids = hf_render(tokenizer, training_template, msgs, gen)
            g_text, g_ids = gguf_render(llm, msgs, gen)
            if t_ids != g_ids:
                report.ok = False
                report.mismatches.append({"index": index, "part": part, "first_diff": _first_diff(t_ids, g_ids),
                                          "training_text": t_text, "gguf_text": g_text,
                                          "training_ids": t_ids, "gguf_ids": g_ids})
        if has_answer and report.ok:
            _, p_ids = gguf_render(llm, conv[:-1], True)
            _, f_ids = gguf_render(llm, conv, False)
            answer = f_ids[len(p_ids):]
            eos_id = llm.token_eos()
            if f_ids[:len(p_ids)] != p_ids or eos_id not in answer:
                report.ok = False
                report.problems.append(f"conversation {index}: the assistant turn is not followed by EOS "
                                       f"{gguf_eos!r} in the template, so generation would not stop at EOS.")
    if report.mismatches:
        report.problems.append(f"{len(report.mismatches)} rendering(s) differ in token ids.")
    return report


def tensor_types(gguf_path: Path) -> dict[str, int]:
    """Weight elements per tensor type (matrices only: 1-D norms stay F32 by design)."""
    from gguf import GGUFReader

    counts: dict[str, int] = {}
    for t in GGUFReader(str(gguf_path)).tensors:
        if len([d for d in t.shape if d > 1]) < 2:
            continue
        counts[t.tensor_type.name] = counts.get(t.tensor_type.name, 0) + int(t.n_elements)
    return counts


def quant_coverage(gguf_path: Path, qtype: str) -> dict[str, Any]:
    """How much of the model really got ``qtype``; k-quants fall back when rows are not a multiple of 256."""
    counts = tensor_types(gguf_path)
    total = sum(counts.values()) or 1
    intended = sum(n for name, n in counts.items() if name in INTENDED_TYPES.get(qtype, {qtype.upper()}))
    share = intended / total
    out: dict[str, Any] = {"intended_share": round(share, 4),
                           "types": {k: round(v / total, 4) for k, v in sorted(counts.items())}}
    if share < BARELY_APPLIES:
        others = ", ".join(f"{k} {v:.0%}" for k, v in out["types"].items()
                           if k not in INTENDED_TYPES.get(qtype, set()))
        out["warning"] = (f"{qtype} barely applies to this model: only {share:.0%} of weight elements are in "
                          f"{'/'.join(sorted(INTENDED_TYPES.get(qtype, {qtype})))}; the rest fell back to "
                          f"{others} (k-quants need rows that are a multiple of 256).")
    return out
