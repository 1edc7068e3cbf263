"""Shared fixtures: every test gets its own workspace folder."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Experiment tracking (MLflow) is on by default for users; in the suite it is off unless a test turns it on
# (tests/runtime/test_tracking.py and the history/gate tests do): importing mlflow and opening a fresh store in
# every test's workspace would add seconds to each of hundreds of tests that do not look at the tracker.
os.environ.setdefault("SPECIALIZE_TRACKING", "off")


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
