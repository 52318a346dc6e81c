"""The price table: what a model's tokens cost, for agents that report tokens but no cost.

nightshift/defaults/prices.yaml (or `prices_file` in the agent config) maps a model name to USD per million
input, cached-input and output tokens. Cost = uncached input x input + cached x cached_input + output x
output. A model not in the table costs nothing and says so (cost_source: none).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from nightshift.agents.contract import TokenUsage
from nightshift.defaults import default_path
from nightshift.safe_yaml import load_yaml_file

DEFAULT_PRICES_FILE = default_path("prices.yaml")


class ModelPrice(BaseModel):
    """USD per million tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)  # default: the input price


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelPrice] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> PriceTable:
        try:
            return cls.model_validate(load_yaml_file(path) or {})
        except ValueError as exc:
            raise ValueError(f"{path}: invalid price table: {exc}") from None

    def lookup(self, model: str) -> ModelPrice | None:
        for name in (model, model.rsplit("/", 1)[-1]):
            if name in self.models:
                return self.models[name]
        return None

    def priced(self, usage: TokenUsage, model: str) -> TokenUsage:
        """`usage` with its cost from this table, unless the agent reported a cost itself."""
        usage = usage.model_copy(update={"model": usage.model or model})
        if usage.cost_source == "agent":
            return usage
        price = self.lookup(model) if model else None
        if price is None:
            return usage.model_copy(update={"cost_usd": 0.0, "cost_source": "none"})
        cached = min(usage.cached_input_tokens, usage.input_tokens)
        cached_price = price.input if price.cached_input is None else price.cached_input
        cost = (
            (usage.input_tokens - cached) * price.input
            + cached * cached_price
            + usage.output_tokens * price.output
        ) / 1_000_000
        return usage.model_copy(update={"cost_usd": round(cost, 6), "cost_source": "price_table"})
