"""One model interface for evaluation, judging, baselines and generation.

``load_model(ref)`` accepts:

* a litellm model string (``openai/gpt-4o-mini``, ``anthropic/...``; with ``api_base`` for an
  OpenAI-compatible local server) — calls go through ``specialize.llm.client.LLMClient``;
* a local Hugging Face model folder, optionally with a LoRA ``adapter`` folder (transformers + peft);
* a ``.gguf`` file, run in process by llama-cpp-python;
* ``embedded:smollm2-135m``, the GGUF that ships with the package.

Every backend answers ``generate(messages, max_tokens, temperature=0.0, schema=None) -> Generation`` and
``generate_many(list_of_messages, ...)`` (errors come back in their slot). Decoding is greedy unless a
temperature is given. With a JSON ``schema`` the answer is constrained to it where the backend can do that:
llama.cpp in process builds a grammar from the schema; a litellm model gets the response format its server
understands (see ``specialize.llm.structured``); transformers refuses. ``decoding_mode(schema)`` names what a
backend will do, so results can record it. torch/transformers/peft/llama_cpp/litellm are imported only by the backend that needs
them. Local models can be given an hourly hardware price so that cost per request means something.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from specialize.runtime.errors import DependencyMissing, InvalidInput, UpstreamError

Messages = list[dict[str, Any]]


@dataclass
class Generation:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cost_usd: float | None = None
    cached: bool = False
    finish_reason: str | None = None  # "stop" (ended by itself) or "length" (hit max_tokens); None if unknown


@dataclass
class BaseModelBackend:
    ref: str
    kind: str = "base"
    cost_per_hour_usd: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def generate(self, messages: Messages, max_tokens: int = 256, temperature: float = 0.0,
                 schema: dict[str, Any] | None = None) -> Generation:
        raise NotImplementedError

    def decoding_mode(self, schema: dict[str, Any] | None) -> str:
        """How an answer is constrained when ``schema`` is given (see specialize.llm.structured's modes)."""
        from specialize.llm.structured import UNCONSTRAINED

        if schema is None:
            return UNCONSTRAINED
        raise InvalidInput(f"{self.kind} models cannot constrain their answers to a JSON schema.",
                           fix="Evaluate without constrained decoding, or run the model through llama.cpp.")

    def _local_cost(self, latency_s: float) -> float | None:
        if self.cost_per_hour_usd is None:
            return 0.0
        return self.cost_per_hour_usd * latency_s / 3600.0

    def generate_many(self, batch: list[Messages], max_tokens: int = 256, temperature: float = 0.0,
                      on_done: Callable[[int, Generation | Exception], None] | None = None,
                      schema: dict[str, Any] | None = None) -> list[Generation | Exception]:
        """Generate for each conversation in order; a failure is returned in its slot, never raised (a backend
        that cannot honour ``schema`` refuses before generating anything)."""
        self.decoding_mode(schema)
        out: list[Generation | Exception] = []
        for i, msgs in enumerate(batch):
            try:
                res: Generation | Exception = self.generate(msgs, max_tokens=max_tokens, temperature=temperature,
                                                            schema=schema)
            except Exception as exc:  # noqa: BLE001 - kept per item, reported by the caller
                res = exc
            out.append(res)
            if on_done is not None:
                on_done(i, res)
        return out

    def describe(self) -> dict[str, Any]:
        return {"ref": self.ref, "kind": self.kind, **self.info}


class LiteLLMModel(BaseModelBackend):
    def __init__(self, ref: str, *, api_base: str | None = None, concurrency: int = 8, cache: bool = False,
                 max_retries: int = 4, timeout_s: float = 60.0, cost_per_hour_usd: float | None = None,
                 client: Any = None, schema_style: str = "auto") -> None:
        super().__init__(ref=ref, kind="litellm", cost_per_hour_usd=cost_per_hour_usd,
                         info={"api_base": api_base} if api_base else {})
        self.api_base = api_base
        self.schema_style = schema_style
        from specialize.llm.client import LLMClient

        self.client = client or LLMClient(api_base=api_base, concurrency=concurrency, cache=cache,
                                          max_retries=max_retries, timeout_s=timeout_s)

    def _to_gen(self, r: Any) -> Generation:
        cost = r.cost_usd
        if self.cost_per_hour_usd is not None:  # a self-hosted server behind litellm: price its time
            cost = self._local_cost(r.latency_s)
        return Generation(text=r.text, prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                          latency_s=r.latency_s, cost_usd=cost, cached=r.cached)

    def _response_format(self, schema: dict[str, Any] | None) -> tuple[dict[str, Any] | None, str]:
        from specialize.llm.structured import UNCONSTRAINED, response_format_for

        if schema is None:
            return None, UNCONSTRAINED
        return response_format_for(self.ref, schema, api_base=self.api_base,
                                   style=self.schema_style)  # type: ignore[arg-type]

    def decoding_mode(self, schema: dict[str, Any] | None) -> str:
        return self._response_format(schema)[1]

    def generate(self, messages: Messages, max_tokens: int = 256, temperature: float = 0.0,
                 schema: dict[str, Any] | None = None) -> Generation:
        res = self.generate_many([messages], max_tokens, temperature, schema=schema)[0]
        if isinstance(res, Exception):
            raise res
        return res

    def generate_many(self, batch: list[Messages], max_tokens: int = 256, temperature: float = 0.0,
                      on_done: Callable[[int, Generation | Exception], None] | None = None,
                      schema: dict[str, Any] | None = None) -> list[Generation | Exception]:
        from specialize.llm.client import ChatRequest

        response_format, _ = self._response_format(schema)
        reqs = [ChatRequest(model=self.ref, messages=m, max_tokens=max_tokens, temperature=temperature,
                            response_format=response_format) for m in batch]

        def done(i: int, r: Any) -> None:
            if on_done is not None:
                on_done(i, r if isinstance(r, UpstreamError) else self._to_gen(r))

        res = self.client.chat_many(reqs, done)
        return [r if isinstance(r, UpstreamError) else self._to_gen(r) for r in res]


class TransformersModel(BaseModelBackend):
    def __init__(self, ref: str, *, adapter: str | None = None, cost_per_hour_usd: float | None = None,
                 device: str | None = None) -> None:
        super().__init__(ref=ref, kind="transformers", cost_per_hour_usd=cost_per_hour_usd,
                         info={"adapter": adapter} if adapter else {})
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise DependencyMissing("Running a Hugging Face model needs torch and transformers.",
                                    fix="pip install 'specialize[train]'.") from exc
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(ref)
        model = AutoModelForCausalLM.from_pretrained(ref, dtype=torch.float32 if device in (None, "cpu") else "auto")
        if adapter:
            try:
                from peft import PeftModel
            except ImportError as exc:
                raise DependencyMissing("Loading a LoRA adapter needs peft.", fix="pip install 'specialize[train]'.") \
                    from exc
            model = PeftModel.from_pretrained(model, adapter)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self._lock = threading.Lock()

    def decoding_mode(self, schema: dict[str, Any] | None) -> str:
        from specialize.llm.structured import UNCONSTRAINED

        if schema is None:
            return UNCONSTRAINED
        raise InvalidInput(
            f"{self.ref}: constrained decoding to a JSON schema needs llama.cpp, and this is a transformers model.",
            fix="Export the model (merging any adapter) to GGUF with export_gguf and evaluate the .gguf file, or "
                "evaluate without constrained decoding.")

    def generate(self, messages: Messages, max_tokens: int = 256, temperature: float = 0.0,
                 schema: dict[str, Any] | None = None) -> Generation:
        self.decoding_mode(schema)
        torch = self.torch
        ids = self.tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
        ids = {k: v.to(self.device) for k, v in ids.items()}
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "pad_token_id": self.tok.pad_token_id
                                  or self.tok.eos_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False)
        with self._lock, torch.inference_mode():
            started = time.perf_counter()
            out = self.model.generate(**ids, **kwargs)
            latency = time.perf_counter() - started
        n_in = ids["input_ids"].shape[1]
        new = out[0][n_in:]
        text = self.tok.decode(new, skip_special_tokens=True)
        eos = self.model.generation_config.eos_token_id or self.tok.eos_token_id
        stopped = len(new) > 0 and int(new[-1]) in (eos if isinstance(eos, list) else [eos])
        return Generation(text=text, prompt_tokens=int(n_in), completion_tokens=int(len(new)), latency_s=latency,
                          cost_usd=self._local_cost(latency), finish_reason="stop" if stopped else "length")


class GGUFModel(BaseModelBackend):
    def __init__(self, ref: str, *, path: Path, n_ctx: int = 2048, n_threads: int | None = None,
                 cost_per_hour_usd: float | None = None, chat_format: str | None = None) -> None:
        super().__init__(ref=ref, kind="gguf", cost_per_hour_usd=cost_per_hour_usd, info={"path": str(path)})
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise DependencyMissing("Running a GGUF file needs llama-cpp-python.",
                                    fix="pip install 'specialize[gguf]'.") from exc
        # Half the cores by default: llama.cpp's threads spin while they wait, and on a shared machine more
        # threads than free cores makes generation several times slower, not faster.
        threads = n_threads or max(1, min(8, (os.cpu_count() or 2) // 2))
        self.info["n_threads"] = threads
        self.llm = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False,
                         chat_format=chat_format)
        self._lock = threading.Lock()

    def decoding_mode(self, schema: dict[str, Any] | None) -> str:
        from specialize.llm.structured import GRAMMAR, UNCONSTRAINED

        return UNCONSTRAINED if schema is None else GRAMMAR

    def generate(self, messages: Messages, max_tokens: int = 256, temperature: float = 0.0,
                 schema: dict[str, Any] | None = None) -> Generation:
        # llama-cpp-python's chat handlers turn {"type": "json_object", "schema": ...} into a grammar
        # (llama_chat_format._grammar_for_response_format), so sampling can only produce text that fits it.
        response_format = None
        if schema is not None:
            from specialize.llm.structured import provider_schema

            response_format = {"type": "json_object", "schema": provider_schema(schema)}
        with self._lock:
            started = time.perf_counter()
            out = self.llm.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=temperature,
                                                  top_k=1 if temperature == 0 else 40, seed=0,
                                                  response_format=response_format)
            latency = time.perf_counter() - started
        usage = out.get("usage") or {}
        text = out["choices"][0]["message"].get("content") or ""
        return Generation(text=text, prompt_tokens=int(usage.get("prompt_tokens", 0)),
                          completion_tokens=int(usage.get("completion_tokens", 0)), latency_s=latency,
                          cost_usd=self._local_cost(latency), finish_reason=out["choices"][0].get("finish_reason"))


_LOADED: dict[tuple[Any, ...], BaseModelBackend] = {}


def load_model(ref: str, *, adapter: str | None = None, api_base: str | None = None, concurrency: int = 8,
               cache: bool = False, cost_per_hour_usd: float | None = None, n_ctx: int = 2048,
               n_threads: int | None = None, timeout_s: float = 60.0, reuse: bool = True,
               schema_style: str = "auto") -> BaseModelBackend:
    """Open a model by reference (see the module docstring); local models are kept loaded for reuse.

    ``schema_style`` says how a litellm model is asked for schema-constrained output ("auto", "llama_cpp",
    "json_schema", "json_object"; see specialize.llm.structured)."""
    from specialize.runtime.embedded import embedded_gguf_path, is_embedded
    from specialize.runtime.workspace import resolve_path

    key = (ref, adapter, api_base, cost_per_hour_usd, n_ctx, n_threads)
    if reuse and key in _LOADED and not api_base:
        return _LOADED[key]
    model: BaseModelBackend
    if is_embedded(ref):
        model = GGUFModel(ref, path=embedded_gguf_path(), n_ctx=n_ctx, n_threads=n_threads,
                          cost_per_hour_usd=cost_per_hour_usd)
    elif ref.endswith(".gguf"):
        path = resolve_path(ref, arg="model", must_exist=True)
        model = GGUFModel(ref, path=path, n_ctx=n_ctx, n_threads=n_threads, cost_per_hour_usd=cost_per_hour_usd)
    elif _looks_local(ref):
        path = resolve_path(ref, arg="model", must_exist=True)
        if not (path / "config.json").exists():
            raise InvalidInput(f"{ref} is a folder without config.json, so not a Hugging Face model.",
                               fix="Pass the folder that holds config.json and the weights.")
        ad = str(resolve_path(adapter, arg="adapter", must_exist=True)) if adapter else None
        model = TransformersModel(str(path), adapter=ad, cost_per_hour_usd=cost_per_hour_usd)
        model.ref = ref
    elif "/" in ref:
        if adapter:
            raise InvalidInput("A LoRA adapter can only be applied to a local Hugging Face folder.",
                               fix="Pass the base model folder as the model, or merge the adapter first.")
        return LiteLLMModel(ref, api_base=api_base, concurrency=concurrency, cache=cache, timeout_s=timeout_s,
                            cost_per_hour_usd=cost_per_hour_usd, schema_style=schema_style)
    else:
        raise InvalidInput(f"Cannot tell what kind of model '{ref}' is.",
                           fix="Use a litellm string (provider/model), a local model folder, a .gguf path, "
                               "or embedded:smollm2-135m.")
    if reuse:
        _LOADED[key] = model
    return model


def _looks_local(ref: str) -> bool:
    """True for a local model folder. Text written as a path (absolute, ``./``, ``../``, ``~``, or with a ``..``
    part) always counts as one, so a folder outside the workspace is refused as a path instead of being sent to a
    provider as a model name."""
    from specialize.runtime.errors import SpecializeError
    from specialize.runtime.workspace import check_path_text, looks_like_path, resolve_path, workspace_root

    check_path_text(ref, arg="model")  # NUL bytes and over-long names are neither paths nor model names
    if looks_like_path(ref) or os.path.lexists(workspace_root() / ref):  # a link planted in the workspace too
        return True
    try:
        return resolve_path(ref, arg="model").is_dir()
    except SpecializeError:  # not a path we may read: a model string
        return False
