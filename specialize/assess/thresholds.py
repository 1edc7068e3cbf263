"""The decision thresholds and planning defaults in ``references/economics/``, loaded once and validated.

``thresholds.yaml`` is the one place the spend bands, the payback limit, the quality bars and the evidence
size live; ``decision_defaults.yaml`` holds the values ``decide_specialization`` falls back on. Every entry
carries a ``source`` and an ``as_of`` date, which the look-ups hand back so a result can cite them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from specialize.assess.pricing import _check_as_of, _load_yaml
from specialize.runtime.errors import NotFound


class Entry(BaseModel):
    """One dated figure: a value, or a (low, likely, high) range, or a small table of named values."""

    model_config = ConfigDict(extra="allow")

    unit: str
    source: str = Field(min_length=10)
    as_of: str
    meaning: str | None = None
    value: float | None = None
    low: float | None = None
    likely: float | None = None
    high: float | None = None

    @field_validator("as_of")
    @classmethod
    def _date(cls, value: str) -> str:
        return _check_as_of(value)

    @model_validator(mode="after")
    def _shape(self) -> "Entry":
        rng = (self.low, self.likely, self.high)
        if all(v is not None for v in rng) and not (self.low <= self.likely <= self.high):
            raise ValueError(f"range must satisfy low <= likely <= high, got {rng}")
        if self.value is None and any(v is None for v in rng) and not self.model_extra:
            raise ValueError("an entry needs a value, a low/likely/high range, or named values")
        return self

    def named(self, key: str) -> float:
        """A value from an entry that is a small table (e.g. retrain_every_months by how often the task changes)."""
        return float((self.model_extra or {})[key])


class _Table(BaseModel):
    entries: dict[str, Entry]

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            raise NotFound(f"No entry {name!r} in the economics reference tables.",
                           fix=f"Known entries: {', '.join(self.entries)}.")
        return self.entries[name]


REQUIRED_THRESHOLDS = ("spend_weak_below_usd", "spend_strong_from_usd", "spend_certain_from_usd",
                       "payback_limit_months", "quality_needed_near_frontier", "quality_needed_match_frontier",
                       "quality_needed_task_metric", "evidence_min_items")


@lru_cache(maxsize=1)
def thresholds() -> _Table:
    """``references/economics/thresholds.yaml``, validated: every threshold the tools use is present."""
    table = _Table(entries=_load_yaml("thresholds.yaml", folder="economics"))
    missing = [k for k in REQUIRED_THRESHOLDS if k not in table.entries or table.entries[k].value is None]
    if missing:
        raise ValueError(f"thresholds.yaml lacks a value for {', '.join(missing)}")
    return table


@lru_cache(maxsize=1)
def defaults() -> _Table:
    """``references/economics/decision_defaults.yaml``, validated."""
    return _Table(entries=_load_yaml("decision_defaults.yaml", folder="economics"))


def threshold(name: str) -> float:
    """The value of one threshold (e.g. ``payback_limit_months``)."""
    return float(thresholds().get(name).value)  # type: ignore[arg-type]


def default(name: str) -> float:
    """The value of one single-valued default."""
    return float(defaults().get(name).value)  # type: ignore[arg-type]


def spend_band(spend: float) -> str:
    """Which band a monthly frontier spend falls in, in the words the playbook uses."""
    weak, strong, certain = (threshold(k) for k in ("spend_weak_below_usd", "spend_strong_from_usd",
                                                     "spend_certain_from_usd"))
    if spend < weak:
        return f"under ${weak:,.0f} a month: the upfront work rarely pays back"
    if spend < strong:
        return f"${weak:,.0f}-{strong:,.0f} a month: worth checking with the numbers"
    if spend < certain:
        return f"${strong:,.0f}-{certain:,.0f} a month: a strong candidate"
    return f"${certain:,.0f} a month or more: almost certainly pays, if the quality holds"
