"""Picking a subset of rows that covers every group (label, slice) in turn, so a small limit still sees them all."""

from __future__ import annotations

from typing import Any


def take_in_turn(rows: list[dict[str, Any]], limit: int, group: Any) -> list[dict[str, Any]]:
    """Up to ``limit`` rows, one from each group in turn (groups in order of first appearance, rows in file
    order within a group)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(group(row), []).append(row)
    queues = [list(reversed(g)) for g in groups.values()]
    picked: list[dict[str, Any]] = []
    while len(picked) < min(limit, len(rows)):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop())
    return picked
