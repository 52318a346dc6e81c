"""Tickets start in the manifest's sequence: map index i is the i-th ticket, so it gets a higher
weight than every later ticket. Registered in the plugin; operators name it by dotted path."""

from __future__ import annotations

from typing import Any

from airflow.task.priority_strategy import PriorityWeightStrategy


class ManifestOrder(PriorityWeightStrategy):
    BASE = 100_000

    def get_weight(self, ti: Any) -> int:
        index = ti.map_index if ti.map_index is not None and ti.map_index >= 0 else 0
        return self.BASE - index


MANIFEST_ORDER = f"{ManifestOrder.__module__}.{ManifestOrder.__qualname__}"
