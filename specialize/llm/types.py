"""The request, response and usage records every LLM call in specialize passes around (no litellm import)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field


class ChatRequest(BaseModel):
    model: str = Field(description="litellm model string, e.g. 'openai/gpt-4o-mini' or 'openai/local'.")
    messages: list[dict[str, Any]] = Field(description="Chat messages (role, content).")
    temperature: float = Field(0.0, description="Sampling temperature; 0 is greedy.")
    max_tokens: int | None = Field(None, description="Upper bound on completion tokens.")
    seed: int | None = Field(None, description="Provider seed, where supported.")
    response_format: dict[str, Any] | None = Field(None, description="e.g. {'type': 'json_object'}.")
    stop: list[str] | None = Field(None, description="Stop sequences.")

    def cache_key(self, api_base: str | None) -> str:
        payload = self.model_dump(mode="json")
        payload["api_base"] = api_base or ""
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ChatResponse(BaseModel):
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1


class UsageStats(BaseModel):
    requests: int = 0
    http_calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True

    def merge(self, other: "UsageStats") -> None:
        """Add another client's counts (a worker process's) to these."""
        for name in ("requests", "http_calls", "cache_hits", "retries", "failures", "prompt_tokens",
                     "completion_tokens", "cost_usd"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_known = self.cost_known and other.cost_known

    def add(self, resp: ChatResponse) -> None:
        self.prompt_tokens += resp.prompt_tokens
        self.completion_tokens += resp.completion_tokens
        if resp.cached:
            return
        if resp.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd += resp.cost_usd
