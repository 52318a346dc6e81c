"""The ranking repository at its base: `inventory`, a small stock-keeping package with a pytest suite,
a GitLab CI file, a ruff config and the repository's own gates file (its test command)."""

FILES: dict[str, str] = {}

FILES["README.md"] = """# inventory

Stock keeping for a small shop: items, a store, prices and reports.

    python -m pytest
"""

FILES["pyproject.toml"] = """[project]
name = "inventory"
version = "0.3.0"
requires-python = ">=3.11"

[tool.pytest.ini_options]
pythonpath = ["src"]
testpaths = ["tests"]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "B", "UP"]
"""

FILES[".gitlab-ci.yml"] = """stages: [test]

test:
  stage: test
  image: python:3.11
  script:
    - pip install pytest
    - python -m pytest -q
"""

FILES[".nightshift/gates.yaml"] = """tests:
  command: PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider --junitxml="$NIGHTSHIFT_JUNIT_XML"
  rerun_command: PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider --junitxml="$NIGHTSHIFT_JUNIT_XML" {tests}
"""

FILES["src/inventory/__init__.py"] = '''"""Stock keeping for a small shop."""

from inventory.models import Item
from inventory.store import Store

__all__ = ["Item", "Store"]
'''

FILES["src/inventory/models.py"] = '''"""The things a shop keeps in stock."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    price: float
    weight_kg: float = 0.0

    def __post_init__(self) -> None:
        if not self.sku:
            raise ValueError("an item needs a SKU")
'''

FILES["src/inventory/store.py"] = '''"""A store: how many of each item are on the shelves."""

from __future__ import annotations

from inventory.models import Item


class Store:
    def __init__(self) -> None:
        self._items: dict[str, Item] = {}
        self._quantities: dict[str, int] = {}

    def add(self, item: Item, quantity: int = 1) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self._items[item.sku] = item
        self._quantities[item.sku] = self._quantities.get(item.sku, 0) + quantity

    def remove(self, sku: str, quantity: int = 1) -> None:
        self._quantities[sku] = self._quantities[sku] - quantity

    def quantity(self, sku: str) -> int:
        return self._quantities.get(sku, 0)

    def items(self) -> list[Item]:
        return [self._items[sku] for sku in sorted(self._items)]

    def total_value(self) -> float:
        return sum(item.price * self._quantities[item.sku] for item in self._items.values())
'''

FILES["src/inventory/pricing.py"] = '''"""Prices: discounts and tax."""

from __future__ import annotations


def discounted(price: float, percent: float) -> float:
    """The price after a percentage discount."""
    if not 0 <= percent <= 100:
        raise ValueError("percent must be between 0 and 100")
    return price * (100 - percent) / 100


def with_tax(price: float, rate: float = 0.2) -> float:
    return price * (1 + rate)
'''

FILES[
    "src/inventory/report.py"
] = '''"""Reports on the stock: CSV for the accountant, text for the shop floor."""

from __future__ import annotations

import csv
import io

from inventory.store import Store


def to_csv(store: Store) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\\n")
    writer.writerow(["sku", "name", "quantity", "price"])
    for item in store.items():
        writer.writerow([item.sku, item.name, store.quantity(item.sku), f"{item.price:.2f}"])
    return out.getvalue()


def text_report(store: Store) -> str:
    lines = [f"{item.name}: {store.quantity(item.sku)}" for item in store.items()]
    return "\\n".join(lines)
'''

FILES["src/inventory/units.py"] = '''"""Weights and their units."""

from __future__ import annotations

_TO_KG = {"kg": 1.0, "g": 0.001}


def convert(value: float, unit: str, to: str) -> float:
    """Convert a weight between units."""
    try:
        return value * _TO_KG[unit] / _TO_KG[to]
    except KeyError as exc:
        raise ValueError(f"unknown unit {exc.args[0]!r}") from None
'''

FILES["scripts/seed_data.py"] = '''"""Fill a store with sample data for local development."""

from __future__ import annotations

from inventory import Item, Store

SAMPLE = [
    Item("A-1", "Apple", 0.5, 0.2),
    Item("B-2", "Bread", 2.1, 0.5),
    Item("C-3", "Cheese", 4.8, 0.3),
]


def seeded_store(copies: int = 10) -> Store:
    store = Store()
    for item in SAMPLE:
        store.add(item, copies)
    return store
'''

FILES["tests/conftest.py"] = """from __future__ import annotations

import pytest

from inventory import Item, Store


@pytest.fixture
def apple() -> Item:
    return Item("A-1", "Apple", 0.5, 0.2)


@pytest.fixture
def store(apple: Item) -> Store:
    shop = Store()
    shop.add(apple, 10)
    shop.add(Item("B-2", "Bread", 2.0, 0.5), 3)
    return shop
"""

FILES["tests/test_models.py"] = """from __future__ import annotations

import pytest

from inventory import Item


def test_item_keeps_its_fields() -> None:
    item = Item("A-1", "Apple", 0.5)
    assert item.name == "Apple"
    assert item.weight_kg == 0.0


def test_item_needs_a_sku() -> None:
    with pytest.raises(ValueError):
        Item("", "Nameless", 1.0)
"""

FILES["tests/test_store.py"] = """from __future__ import annotations

import pytest

from inventory import Item, Store


def test_add_counts_quantities(store: Store) -> None:
    assert store.quantity("A-1") == 10
    assert store.quantity("B-2") == 3


def test_add_again_increases(store: Store, apple: Item) -> None:
    store.add(apple, 5)
    assert store.quantity("A-1") == 15


def test_add_refuses_zero(store: Store, apple: Item) -> None:
    with pytest.raises(ValueError):
        store.add(apple, 0)


def test_remove_decreases(store: Store) -> None:
    store.remove("A-1", 4)
    assert store.quantity("A-1") == 6


def test_total_value(store: Store) -> None:
    assert store.total_value() == pytest.approx(11.0)
"""

FILES["tests/test_pricing.py"] = """from __future__ import annotations

import pytest

from inventory.pricing import discounted, with_tax


def test_discounted() -> None:
    assert discounted(10.0, 25) == pytest.approx(7.5)


def test_discount_out_of_range() -> None:
    with pytest.raises(ValueError):
        discounted(10.0, 120)


def test_with_tax() -> None:
    assert with_tax(10.0) == pytest.approx(12.0)
"""

FILES["tests/test_report.py"] = """from __future__ import annotations

from inventory import Store
from inventory.report import text_report, to_csv


def test_csv_has_a_header_and_rows(store: Store) -> None:
    lines = to_csv(store).splitlines()
    assert lines[0] == "sku,name,quantity,price"
    assert lines[1] == "A-1,Apple,10,0.50"


def test_text_report(store: Store) -> None:
    assert text_report(store) == "Apple: 10\\nBread: 3"
"""

FILES["tests/test_units.py"] = """from __future__ import annotations

import pytest

from inventory.units import convert


def test_grams_to_kilograms() -> None:
    assert convert(1500, "g", "kg") == pytest.approx(1.5)


def test_unknown_unit() -> None:
    with pytest.raises(ValueError, match="stone"):
        convert(1, "stone", "kg")
"""
