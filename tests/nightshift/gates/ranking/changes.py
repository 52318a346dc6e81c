"""Eight good changes to the ranking repository, written as a developer would: the code and its tests.

Each edit is (path, old text, new text), applied to the file at the base; `old=None` appends. `bug` is a
plausible slip in the same change that its tests catch (the "failing tests" variant)."""

from __future__ import annotations

from dataclasses import dataclass, field

Edit = tuple[str, str | None, str]


@dataclass(frozen=True)
class Change:
    ticket_id: str
    title: str
    description: str
    acceptance_criteria: list[str]
    estimated_files: list[str]
    edits: list[Edit]
    source: str  # the main code file (defects are planted there)
    test_file: str  # an existing test file the change touches
    bug: Edit
    extra: dict[str, str] = field(default_factory=dict)


CHANGES: list[Change] = [
    Change(
        ticket_id="INV-1",
        title="remove() refuses to take more than is in stock",
        description="Removing more items than the store holds leaves a negative quantity.",
        acceptance_criteria=[
            "remove() raises ValueError naming the SKU when stock is short",
            "the quantity is unchanged after a refused removal",
        ],
        estimated_files=["src/inventory/store.py", "tests/test_store.py"],
        edits=[
            (
                "src/inventory/store.py",
                "        self._quantities[sku] = self._quantities[sku] - quantity\n",
                "        held = self._quantities.get(sku, 0)\n"
                "        if quantity > held:\n"
                '            raise ValueError(f"only {held} of {sku} in stock, cannot remove {quantity}")\n'
                "        self._quantities[sku] = held - quantity\n",
            ),
            (
                "tests/test_store.py",
                None,
                "\n\ndef test_remove_more_than_in_stock(store: Store) -> None:\n"
                '    with pytest.raises(ValueError, match="only 3 of B-2"):\n'
                '        store.remove("B-2", 4)\n'
                '    assert store.quantity("B-2") == 3\n',
            ),
        ],
        source="src/inventory/store.py",
        test_file="tests/test_store.py",
        bug=("src/inventory/store.py", "if quantity > held:", "if quantity > held + 1:"),
    ),
    Change(
        ticket_id="INV-2",
        title="Bulk discount tiers",
        description="Orders of 10 or more get 5% off, 50 or more 10% off.",
        acceptance_criteria=[
            "bulk_discount(quantity) returns the percent for the tier",
            "below 10 items there is no discount",
        ],
        estimated_files=["src/inventory/pricing.py", "tests/test_pricing.py"],
        edits=[
            (
                "src/inventory/pricing.py",
                None,
                "\n\n_TIERS = [(50, 10.0), (10, 5.0)]\n\n\n"
                "def bulk_discount(quantity: int) -> float:\n"
                '    """The discount percent an order of `quantity` items earns."""\n'
                "    for minimum, percent in _TIERS:\n"
                "        if quantity >= minimum:\n"
                "            return percent\n"
                "    return 0.0\n",
            ),
            (
                "tests/test_pricing.py",
                "from inventory.pricing import discounted, with_tax\n",
                "from inventory.pricing import bulk_discount, discounted, with_tax\n",
            ),
            (
                "tests/test_pricing.py",
                None,
                '\n\n@pytest.mark.parametrize(("quantity", "percent"), [(1, 0.0), (10, 5.0), (49, 5.0), (50, 10.0)])\n'
                "def test_bulk_discount_tiers(quantity: int, percent: float) -> None:\n"
                "    assert bulk_discount(quantity) == percent\n",
            ),
        ],
        source="src/inventory/pricing.py",
        test_file="tests/test_pricing.py",
        bug=("src/inventory/pricing.py", "if quantity >= minimum:", "if quantity > minimum:"),
    ),
    Change(
        ticket_id="INV-3",
        title="CSV export ends with a total row",
        description="The accountant wants the stock value at the bottom of the CSV.",
        acceptance_criteria=["the last CSV row is 'total' with the stock value to two decimals"],
        estimated_files=["src/inventory/report.py", "tests/test_report.py"],
        edits=[
            (
                "src/inventory/report.py",
                '        writer.writerow([item.sku, item.name, store.quantity(item.sku), f"{item.price:.2f}"])\n'
                "    return out.getvalue()\n",
                '        writer.writerow([item.sku, item.name, store.quantity(item.sku), f"{item.price:.2f}"])\n'
                '    writer.writerow(["total", "", "", f"{store.total_value():.2f}"])\n'
                "    return out.getvalue()\n",
            ),
            (
                "tests/test_report.py",
                None,
                "\n\ndef test_csv_ends_with_the_total(store: Store) -> None:\n"
                '    assert to_csv(store).splitlines()[-1] == "total,,,11.00"\n',
            ),
        ],
        source="src/inventory/report.py",
        test_file="tests/test_report.py",
        bug=("src/inventory/report.py", 'f"{store.total_value():.2f}"])', 'f"{store.total_value():.1f}"])'),
    ),
    Change(
        ticket_id="INV-4",
        title="Pounds and ounces",
        description="Suppliers in the US send weights in lb and oz.",
        acceptance_criteria=["convert() accepts 'lb' and 'oz'", "1 lb is 0.45359237 kg"],
        estimated_files=["src/inventory/units.py", "tests/test_units.py"],
        edits=[
            (
                "src/inventory/units.py",
                '_TO_KG = {"kg": 1.0, "g": 0.001}\n',
                '_TO_KG = {"kg": 1.0, "g": 0.001, "lb": 0.45359237, "oz": 0.45359237 / 16}\n',
            ),
            (
                "tests/test_units.py",
                None,
                "\n\ndef test_pounds_to_kilograms() -> None:\n"
                '    assert convert(2, "lb", "kg") == pytest.approx(0.90718474)\n'
                "\n\ndef test_ounces_to_pounds() -> None:\n"
                '    assert convert(32, "oz", "lb") == pytest.approx(2.0)\n',
            ),
        ],
        source="src/inventory/units.py",
        test_file="tests/test_units.py",
        bug=("src/inventory/units.py", '"oz": 0.45359237 / 16', '"oz": 0.45359237 / 12'),
    ),
    Change(
        ticket_id="INV-5",
        title="List items running low",
        description="The shop floor needs the items at or below a threshold, to reorder.",
        acceptance_criteria=["low_stock(threshold) lists items with quantity <= threshold, by SKU"],
        estimated_files=["src/inventory/store.py", "tests/test_store.py"],
        edits=[
            (
                "src/inventory/store.py",
                None,
                "\n    def low_stock(self, threshold: int) -> list[Item]:\n"
                '        """Items with at most `threshold` left, to reorder."""\n'
                "        return [item for item in self.items() if self._quantities[item.sku] <= threshold]\n",
            ),
            (
                "tests/test_store.py",
                None,
                "\n\ndef test_low_stock(store: Store) -> None:\n"
                '    assert [item.sku for item in store.low_stock(3)] == ["B-2"]\n'
                "    assert store.low_stock(0) == []\n",
            ),
        ],
        source="src/inventory/store.py",
        test_file="tests/test_store.py",
        bug=("src/inventory/store.py", "<= threshold]", "< threshold]"),
    ),
    Change(
        ticket_id="INV-6",
        title="Refuse negative prices",
        description="A typo created an item with a negative price and the report went negative.",
        acceptance_criteria=["Item raises ValueError for a negative price", "a price of 0 is allowed"],
        estimated_files=["src/inventory/models.py", "tests/test_models.py"],
        edits=[
            (
                "src/inventory/models.py",
                '            raise ValueError("an item needs a SKU")\n',
                '            raise ValueError("an item needs a SKU")\n'
                "        if self.price < 0:\n"
                '            raise ValueError(f"{self.sku}: price cannot be negative ({self.price})")\n',
            ),
            (
                "tests/test_models.py",
                None,
                "\n\ndef test_negative_price_refused() -> None:\n"
                '    with pytest.raises(ValueError, match="cannot be negative"):\n'
                '        Item("X-1", "Broken", -1.0)\n'
                "\n\ndef test_free_item_allowed() -> None:\n"
                '    assert Item("F-1", "Flyer", 0.0).price == 0.0\n',
            ),
        ],
        source="src/inventory/models.py",
        test_file="tests/test_models.py",
        bug=("src/inventory/models.py", "if self.price < 0:", "if self.price <= 0:"),
    ),
    Change(
        ticket_id="INV-7",
        title="Tax rounded to cents",
        description="with_tax returns long fractions; invoices need cents, rounded half up.",
        acceptance_criteria=["with_tax rounds to two decimals, half up", "the rate stays configurable"],
        estimated_files=["src/inventory/pricing.py", "tests/test_pricing.py"],
        edits=[
            (
                "src/inventory/pricing.py",
                "from __future__ import annotations\n",
                "from __future__ import annotations\n\nfrom decimal import ROUND_HALF_UP, Decimal\n",
            ),
            (
                "src/inventory/pricing.py",
                "def with_tax(price: float, rate: float = 0.2) -> float:\n    return price * (1 + rate)\n",
                "def with_tax(price: float, rate: float = 0.2) -> float:\n"
                '    """The price with tax, rounded half up to cents."""\n'
                "    gross = Decimal(str(price)) * (1 + Decimal(str(rate)))\n"
                '    return float(gross.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))\n',
            ),
            (
                "tests/test_pricing.py",
                None,
                "\n\ndef test_with_tax_rounds_half_up() -> None:\n"
                "    assert with_tax(0.125, rate=0.0) == 0.13\n"
                "    assert with_tax(9.99) == 11.99\n",
            ),
        ],
        source="src/inventory/pricing.py",
        test_file="tests/test_pricing.py",
        bug=("src/inventory/pricing.py", "rounding=ROUND_HALF_UP", 'rounding="ROUND_DOWN"'),
    ),
    Change(
        ticket_id="INV-8",
        title="Text report sorted by stock value",
        description="The shop floor report should list the most valuable stock first, with the value.",
        acceptance_criteria=[
            "text_report lists items by quantity x price, highest first",
            "each line shows the value to two decimals",
        ],
        estimated_files=["src/inventory/report.py", "tests/test_report.py"],
        edits=[
            (
                "src/inventory/report.py",
                '    lines = [f"{item.name}: {store.quantity(item.sku)}" for item in store.items()]\n',
                "    def value(item: Item) -> float:\n"
                "        return item.price * store.quantity(item.sku)\n\n"
                "    ranked = sorted(store.items(), key=value, reverse=True)\n"
                '    lines = [f"{item.name}: {store.quantity(item.sku)} ({value(item):.2f})" for item in ranked]\n',
            ),
            (
                "src/inventory/report.py",
                "from inventory.store import Store\n",
                "from inventory.models import Item\nfrom inventory.store import Store\n",
            ),
            (
                "tests/test_report.py",
                '    assert text_report(store) == "Apple: 10\\nBread: 3"\n',
                '    assert text_report(store) == "Bread: 3 (6.00)\\nApple: 10 (5.00)"\n',
            ),
        ],
        source="src/inventory/report.py",
        test_file="tests/test_report.py",
        bug=("src/inventory/report.py", "key=value, reverse=True", "key=value"),
    ),
]
