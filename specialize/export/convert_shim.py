"""Run llama.cpp's ``convert_hf_to_gguf.py`` with one fallback; executed as a script, never imported.

``specialize.export.converter`` starts this file in a subprocess whose ``PYTHONPATH`` is the converter's own folder,
so the ``gguf`` module the converter bundles is used here only (transformers keeps the real one).

The fallback: llama.cpp recognises a BPE pre-tokenizer by hashing the token ids of a probe string, so any
tokenizer trained locally (new merges, same rules) is "not recognized". When ``tokenizer.json`` declares a
plain byte-level pre-tokenizer with the GPT-2 split regex, the rules are exactly llama.cpp's ``gpt-2`` ones
and we say so; anything else still fails as before. The export's round-trip check compares token ids from
both tokenizers afterwards, so a wrong guess cannot pass unnoticed.
"""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path


def _plain_gpt2_pre_tokenizer(model_dir: Path) -> bool:
    try:
        pre = json.loads((model_dir / "tokenizer.json").read_text()).get("pre_tokenizer") or {}
    except (OSError, ValueError):
        return False
    if pre.get("type") == "Sequence" and len(pre.get("pretokenizers", [])) == 1:
        pre = pre["pretokenizers"][0]
    return pre.get("type") == "ByteLevel" and pre.get("use_regex", True) and not pre.get("add_prefix_space")


def main() -> None:
    script = Path(sys.argv[1])
    sys.argv = [str(script), *sys.argv[2:]]
    sys.path.insert(0, str(script.parent))
    from conversion import base  # the converter's package, from its own folder

    original = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            if _plain_gpt2_pre_tokenizer(Path(self.dir_model)):
                print("specialize: unknown BPE hash, plain byte-level pre-tokenizer -> 'gpt-2'", file=sys.stderr)
                return "gpt-2"
            raise

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
