"""Split a page body into its records' raw JSON text, reading only what paging needs.

Why: parsing a page into Python objects costs ten times the CPU of this, and the records
are parsed once more anyway, a batch at a time, by DuckDB (`pipelines.extract.flatten`). msgspec
validates the whole body but builds only the envelope (`meta`, `paging`) and the id and
cursor of each record; everything else stays bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import msgspec

from pipelines.extract.http import InvalidBody


@dataclass
class SplitPage:
    """A page body taken apart: its envelope object, and for each record its JSON text and
    its id and cursor as decoded (any JSON kind; None when absent or not an object)."""

    envelope: dict[str, Any]
    records: list[bytes]
    ids: list[Any]
    cursors: list[Any]


class PageSplitter:
    """Splits bodies shaped `{"data": [records], "<envelope>": {...}}`."""

    def __init__(self, envelope: str, id_field: str, cursor_field: str) -> None:
        self.envelope = envelope
        self.id_field = id_field
        self.cursor_field = cursor_field
        body = msgspec.defstruct("Body", [("data", list[msgspec.Raw]), (envelope, dict)])
        self._key = msgspec.defstruct("Key", [(id_field, Any, None), (cursor_field, Any, None)])
        # a record that is not an object decodes as itself, so one odd record does not
        # fail the page (it is quarantined downstream)
        item = Union[self._key, str, int, float, bool, None, list]  # type: ignore[name-defined]  # noqa: UP007,E501
        keys = msgspec.defstruct("Keys", [("data", list[item])])
        self._bodies = msgspec.json.Decoder(body)
        self._keys = msgspec.json.Decoder(keys)

    def split(self, body: bytes) -> SplitPage | None:
        """None when the body is JSON but has no data list and envelope object;
        `InvalidBody` (retried by the client) when it is not JSON at all."""
        try:
            page: Any = self._bodies.decode(body)
        except msgspec.ValidationError:
            return None
        except msgspec.DecodeError as exc:
            raise InvalidBody(str(exc)) from None
        key, id_field, cursor_field = self._key, self.id_field, self.cursor_field
        ids, cursors = [], []
        decoded: Any = self._keys.decode(body)
        for item in decoded.data:
            is_object = type(item) is key
            ids.append(getattr(item, id_field) if is_object else None)
            cursors.append(getattr(item, cursor_field) if is_object else None)
        return SplitPage(getattr(page, self.envelope), [bytes(r) for r in page.data], ids, cursors)
