"""The items of a JSON array as its bytes stream in, each bounded, so that a hostile body is refused at once.

    items = ArrayItems(max_items=1000, max_item_bytes=4096, max_depth=2)
    for chunk in body:
        for text in items.feed(chunk):  # each item's JSON text, complete
            ...
    items.close()

Only the structure is scanned here (brackets, commas and string boundaries, found by regular expressions, never
byte by byte in Python): each item's text is parsed later, on its own, where it is checked. Past `max_items`, an
item over `max_item_bytes`, nesting deeper than `max_depth` inside an item, or text that cannot be a JSON array
raise `ArrayRefused` the moment they arrive, so no more of the body is read, held or parsed.
"""

from __future__ import annotations

import re

_STRUCTURE = re.compile(rb'[\[\]{},"]')
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # up to the closing quote or a final backslash
_SPACE = b" \t\r\n"
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")


class ArrayRefused(ValueError):
    """The body is not a JSON array within the limits; `limit` names the one crossed (None: not an array)."""

    def __init__(self, message: str, limit: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit


class ArrayItems:
    """An incremental scanner of one top-level JSON array; holds at most one unfinished item."""

    def __init__(self, *, max_items: int, max_item_bytes: int, max_depth: int) -> None:
        self.max_items, self.max_item_bytes, self.max_depth = max_items, max_item_bytes, max_depth
        self.count = 0
        self._opened = self._closed = False
        self._depth = 0  # 1 inside the array, more inside an item
        self._in_string = self._escaped = False
        self._item = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The items completed by `chunk`, in order."""
        done: list[bytes] = []
        position = 0
        if not self._opened:
            position = _skip_space(chunk, 0)
            if position == len(chunk):
                return done
            if chunk[position : position + 1] != b"[":
                raise ArrayRefused('a JSON batch is a list of hash objects, e.g. [{"pdq": "…"}]')
            self._opened, self._depth, position = True, 1, position + 1
        while position < len(chunk):
            if self._closed:
                if _skip_space(chunk, position) < len(chunk):
                    raise ArrayRefused("text follows the end of the JSON list")
                return done
            start = position
            room = self.max_item_bytes - len(self._item) + 1  # scan no further than the item may reach
            position = self._to_boundary(chunk, position, min(len(chunk), position + room))
            self._take(chunk[start:position])
            if position == len(chunk):
                break
            boundary = chunk[position]
            position += 1
            if boundary == ord(",") or boundary == ord("]"):
                done.extend(self._end_item(last=boundary == ord("]")))
            else:
                self._take(chunk[position - 1 : position])
        return done

    def close(self) -> None:
        """Raise unless the array was closed: a body cut short is refused, not half-answered."""
        if not self._opened:
            raise ArrayRefused("the body is empty")
        if not self._closed:
            raise ArrayRefused("the body ended before the JSON list was closed")

    def _to_boundary(self, chunk: bytes, position: int, end: int) -> int:
        """The position of the next `,` or `]` (or stray `}`) at the list's level before `end`, else `end`."""
        while position < end:
            if self._escaped:
                self._escaped, position = False, position + 1
                continue
            if self._in_string:
                # the pattern also matches the empty string, so `match` never returns None here
                position = _STRING_REST.match(chunk, position, end).end()  # type: ignore[union-attr]
                if position == end:
                    return end
                self._in_string = chunk[position] != ord('"')
                self._escaped = self._in_string  # else a backslash is the window's last byte
                position += 1
                continue
            found = _STRUCTURE.search(chunk, position, end)
            if found is None:
                return end
            position = found.start()
            mark = found.group()
            if mark == b'"':
                self._in_string, position = True, position + 1
            elif mark in b"[{":
                self._depth += 1
                if self._depth - 1 > self.max_depth:
                    raise ArrayRefused(
                        f"an item of the JSON list nests deeper than {self.max_depth} levels", limit="max_depth"
                    )
                position += 1
            elif self._depth == 1:
                return position
            else:
                if mark != b",":
                    self._depth -= 1
                position += 1
        return end

    def _take(self, piece: bytes) -> None:
        self._item += piece
        if len(self._item) > self.max_item_bytes:
            raise ArrayRefused(
                f"item {self.count} of the JSON list is over {self.max_item_bytes:,} bytes", limit="max_item_bytes"
            )

    def _end_item(self, *, last: bool) -> list[bytes]:
        text = bytes(self._item).strip(_SPACE)
        self._item.clear()
        if last:
            self._closed, self._depth = True, 0
            if not text and self.count == 0:
                return []  # `[]`
        if not text:
            raise ArrayRefused(f"item {self.count} of the JSON list is empty (a stray comma?)")
        if self.count == self.max_items:
            raise ArrayRefused(f"the JSON list has more than {self.max_items} items", limit="max_items")
        self.count += 1
        return [text]


def _skip_space(chunk: bytes, position: int) -> int:
    found = _NOT_SPACE.search(chunk, position)
    return len(chunk) if found is None else found.start()
