"""Load the dated price and GPU tables in ``references/pricing/`` and answer look-ups against them.

``frontier_models.yaml`` holds API list prices per million tokens; ``gpus.yaml`` holds GPU hourly rates, peak
tensor throughput and serving-throughput ranges of small dense models. Every figure carries a ``source`` and
an ``as_of`` date, which the look-ups hand back so a result can say where each number came from.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from specialize.runtime.errors import InvalidInput, NotFound
from specialize.runtime.workspace import references_root

_AS_OF = re.compile(r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")


def _check_as_of(value: str) -> str:
    if not _AS_OF.match(value):
        raise ValueError(f"as_of must be YYYY-MM or YYYY-MM-DD, got {value!r}")
    return value


class _Dated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=10)
    as_of: str

    @field_validator("as_of")
    @classmethod
    def _date(cls, value: str) -> str:
        return _check_as_of(value)


class FrontierModel(_Dated):
    name: str
    provider: str
    tier: Literal["premium", "standard", "budget", "free"]
    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)


class GpuRate(_Dated):
    provider: str
    usd_per_hour: float = Field(gt=0)


class Gpu(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    memory_gb: float = Field(gt=0)
    peak_bf16_tflops: float = Field(gt=0)
    peak_source: str = Field(min_length=10)
    peak_as_of: str
    rates: list[GpuRate] = Field(min_length=1)

    @field_validator("peak_as_of")
    @classmethod
    def _date(cls, value: str) -> str:
        return _check_as_of(value)


class ServingRow(_Dated):
    model_params_b: float = Field(gt=0)
    gpu: str
    num_gpus: int = Field(ge=1)
    tokens_per_second: tuple[float, float]
    engine: str


class FrontierTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"]
    unit: Literal["per_million_tokens"]
    models: list[FrontierModel]


class GpuTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: Literal["USD"]
    gpus: list[Gpu]
    serving_throughput: list[ServingRow]


def _load_yaml(name: str, folder: str = "pricing") -> dict:
    import yaml

    return yaml.safe_load((references_root() / folder / name).read_text())


@lru_cache(maxsize=1)
def frontier_table() -> FrontierTable:
    """The frontier API price table, validated (every entry has a source and an as-of date)."""
    return FrontierTable.model_validate(_load_yaml("frontier_models.yaml"))


@lru_cache(maxsize=1)
def gpu_table() -> GpuTable:
    """The GPU table, validated; serving rows must name GPUs the table knows."""
    table = GpuTable.model_validate(_load_yaml("gpus.yaml"))
    known = {g.name for g in table.gpus}
    for row in table.serving_throughput:
        if row.gpu not in known:
            raise ValueError(f"gpus.yaml: serving row names unknown GPU {row.gpu!r}")
    return table


def _norm(name: str) -> str:
    return re.sub(r"[\s_.]+", "-", name.strip().lower())


def frontier_model(name: str, *, arg: str = "frontier_model") -> FrontierModel:
    """Look a frontier model up by name (case, spaces, dots and underscores do not matter)."""
    models = frontier_table().models
    for model in models:
        if _norm(model.name) == _norm(name):
            return model
    known = ", ".join(m.name for m in models)
    raise NotFound(
        f"Argument '{arg}': no price for a model named {name!r} in references/pricing/frontier_models.yaml.",
        fix=f"Use one of: {known}; or pass explicit prices with frontier_input_price_per_m and "
            "frontier_output_price_per_m (US dollars per million tokens).",
    )


def gpu(name: str, *, arg: str = "gpu") -> Gpu:
    """Look a GPU up by its name or an unambiguous prefix of it ("h100" finds H100-80GB)."""
    gpus = gpu_table().gpus
    key = _norm(name)
    exact = [g for g in gpus if _norm(g.name) == key]
    matches = exact or [g for g in gpus if _norm(g.name).startswith(key)]
    known = ", ".join(g.name for g in gpus)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise InvalidInput(f"Argument '{arg}': {name!r} matches several GPUs ({', '.join(g.name for g in matches)}).",
                           fix="Name the memory size too, e.g. A100-80GB.")
    raise NotFound(f"Argument '{arg}': unknown GPU {name!r}.",
                   fix=f"Use one of: {known}; or pass its hourly price explicitly.")


def gpu_rate(gpu_name: str, provider: str | None = None, *, arg: str = "gpu") -> tuple[Gpu, GpuRate]:
    """The GPU and its hourly rate: the named provider's, or the first listed."""
    card = gpu(gpu_name, arg=arg)
    if provider is None:
        return card, card.rates[0]
    for rate in card.rates:
        if _norm(rate.provider) == _norm(provider):
            return card, rate
    raise NotFound(f"No {provider!r} rate for {card.name} in references/pricing/gpus.yaml.",
                   fix=f"Providers listed for it: {', '.join(r.provider for r in card.rates)}; "
                       "or pass the hourly price explicitly.")


class Throughput(BaseModel):
    """Serving throughput range for a model size on a GPU, with how it was obtained."""

    low: float
    high: float
    num_gpus: int
    row: ServingRow
    scaled_from_b: float | None = None  # set when the row was for a larger model and was scaled down


def serving_throughput(params_b: float, gpu_name: str, *, arg: str = "serving_gpu") -> Throughput:
    """Tokens/s range for a ``params_b``-billion model on ``gpu_name``.

    An exact row is used as is. A smaller model than any row is scaled from the smallest row at least as large,
    in inverse proportion to parameter count (batched decoding is bound by reading the weights). Larger models
    than every row on that GPU are refused: the caller must measure.
    """
    card = gpu(gpu_name, arg=arg)
    rows = sorted((r for r in gpu_table().serving_throughput if r.gpu == card.name), key=lambda r: r.model_params_b)
    if not rows:
        have = sorted({r.gpu for r in gpu_table().serving_throughput})
        raise NotFound(f"Argument '{arg}': no reference serving throughput for {card.name}.",
                       fix=f"Pass serving_tokens_per_second (measured), or use a GPU with reference rows: "
                           f"{', '.join(have)}.")
    for row in rows:
        if row.model_params_b == params_b:
            return Throughput(low=row.tokens_per_second[0], high=row.tokens_per_second[1],
                              num_gpus=row.num_gpus, row=row)
    larger = [r for r in rows if r.model_params_b > params_b]
    if not larger:
        sizes = ", ".join(f"{r.model_params_b:g}B" for r in rows)
        raise NotFound(f"Argument '{arg}': no reference serving throughput for a {params_b:g}B model on "
                       f"{card.name} (rows cover {sizes}).",
                       fix="Pass serving_tokens_per_second (measured), or pick a GPU whose rows cover this size.")
    row = larger[0]
    factor = row.model_params_b / params_b
    return Throughput(low=row.tokens_per_second[0] * factor, high=row.tokens_per_second[1] * factor,
                      num_gpus=row.num_gpus, row=row, scaled_from_b=row.model_params_b)
