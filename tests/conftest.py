"""Shared fixtures: every test gets its own workspace folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture()
def workspace(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.setenv("SPECIALIZE_WORKSPACE", str(ws))
    return ws


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny 2-layer Llama chat model with a locally trained tokenizer (see tests/helpers/tiny_model.py)."""
    from tests.helpers.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
