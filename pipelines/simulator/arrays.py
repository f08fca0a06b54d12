"""Bulk edits of compact `array` columns.

Why: the stores keep 1,000,000-entry arrays for ordering. Deleting or inserting k items one
by one costs k memmoves of the whole array; rebuilding from slices costs one pass, so a
benchmark can update 1% of a million rows in milliseconds.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

_SMALL = 16


def without_positions(values: array, positions: Iterable[int]) -> array:
    """`values` without the items at `positions` (in place when few, else a rebuilt copy)."""
    ordered = sorted(set(positions))
    if len(ordered) <= _SMALL:
        for position in reversed(ordered):
            del values[position]
        return values
    out = array(values.typecode)
    previous = 0
    for position in ordered:
        out.extend(values[previous:position])
        previous = position + 1
    out.extend(values[previous:])
    return out


def with_inserted(values: array, inserts: list[tuple[int, int]]) -> array:
    """`values` with each (position, value) inserted before the item now at `position`.

    `inserts` must be sorted by position; items sharing a position keep their given order.
    """
    if len(inserts) <= _SMALL:
        for position, value in reversed(inserts):
            values.insert(position, value)
        return values
    out = array(values.typecode)
    previous = 0
    for position, value in inserts:
        out.extend(values[previous:position])
        out.append(value)
        previous = position
    out.extend(values[previous:])
    return out
