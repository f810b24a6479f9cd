"""`POST /v1/check/batch`: many checks in one request, answered as JSON Lines in input order while the body streams.

A multipart body's parts are read one by one as they arrive (never the whole body in memory); each `file` part
becomes an item checked like `POST /v1/check`, at most `PROVREG_BATCH_CONCURRENCY` at a time, so memory holds that
many files at most (each under `PROVREG_MAX_UPLOAD_BYTES`). A JSON body is a list of hash objects for fast checks
(`registry.matching.check_hashes`), scanned as it streams in (`api.jsonstream`): past its item count, an item's
size (`PROVREG_BATCH_ITEM_MAX_BYTES`) or nesting, it is refused at once with 422, its bytes never held or parsed
whole; each item is parsed on its own in a worker thread. Every item answers one line, `{"index", ...}` plus the
check's view or an `error` of the same shape as a single check's; an item's failure never fails the batch. What
ends a multipart batch early (too many items, the body over `PROVREG_BATCH_MAX_BYTES`, a broken multipart stream) is
its last line. Anonymous callers get the lower `PROVREG_ANONYMOUS_*` item and byte limits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import APIRouter, Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from api.deps import OptionalPublisher, RegistryDep
from api.errors import error_body, error_response
from api.jsonstream import ArrayItems, ArrayRefused
from api.limits import BodyTooLarge, caller_limit, is_json
from api.routers.matching import ModeQuery
from registry import matching
from registry.errors import InvalidRequest, MediaTooLarge, RegistryError
from registry.models import Publisher
from registry.pool import request_budget
from registry.runtime import Registry
from registry.settings import Settings

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["matching"])

MEDIA_TYPE = "application/x-ndjson"
_MAX_FILENAME = 1000
_ITEM_DEPTH = 2  # a hash object of strings and numbers is 1 deep; deeper than this is refused as it streams
_HASH_ITEM = {
    "type": "object",
    "properties": {
        "pdq": {"type": "string", "description": "64 hex digits"},
        "sha256": {"type": "string", "description": "64 hex digits: also finds byte-identical registrations"},
        "pdq_quality": {"type": "integer", "minimum": 0, "maximum": 100},
    },
    "required": ["pdq"],
    "additionalProperties": {"type": "string", "description": "any other algorithm's hex value"},
}
_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "array", "items": {"type": "string", "format": "binary"}}},
                    "required": ["file"],
                }
            },
            "application/json": {"schema": {"type": "array", "items": _HASH_ITEM, "minItems": 1}},
        },
    },
    "responses": {
        "200": {
            "description": "one JSON line per item, in input order: `index` and the check (as `POST /v1/check` "
            "answers it; files add `file`), or `index` and `error`",
            "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
}

Line = dict[str, Any]
Work = Callable[[], Line]  # one item's check, run in a worker thread; raises RegistryError for the item's error line


class JsonLinesResponse(StreamingResponse):
    """A stream that may still read its request while it answers.

    Starlette's `StreamingResponse` listens for a disconnect by reading `receive` beside the stream under ASGI
    spec < 2.4 (uvicorn), which would swallow the body this route reads as it answers; a client that leaves shows
    here as `ClientDisconnect` while reading, or to the watcher in `_ordered` once the body is read.
    """

    media_type = MEDIA_TYPE

    def __init__(self, content: AsyncIterator[bytes], status_code: int = 200) -> None:
        super().__init__(content, status_code=status_code, media_type=MEDIA_TYPE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


@dataclass(frozen=True, slots=True)
class _Limits:
    """One caller's batch limits: items, and bytes per file, with the settings that raise them."""

    items: int
    upload_bytes: int
    items_setting: str
    upload_setting: str

    @classmethod
    def of(cls, settings: Settings, caller: Publisher | None) -> _Limits:
        items, items_setting = caller_limit(settings, "batch_max_items", anonymous=caller is None)
        upload, upload_setting = caller_limit(settings, "max_upload_bytes", anonymous=caller is None)
        return cls(items, upload, items_setting, upload_setting)

    def too_many(self) -> str:
        return f"a batch holds at most {self.items} items ({self.items_setting})"


@router.post("/check/batch", response_class=JsonLinesResponse, openapi_extra=_OPENAPI)
async def check_batch(
    request: Request, registry: RegistryDep, caller: OptionalPublisher, mode: ModeQuery = "full"
) -> Response:
    """Many checks in one request: files (multipart, `file` parts) or hashes (JSON, fast), as JSON Lines in order.
    A publisher's API key raises the limits on items and bytes."""
    registry.require_ready()
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    concurrency = registry.settings.batch_concurrency
    limits = _Limits.of(registry.settings, caller)
    cancelled = threading.Event()
    if is_json(kind):
        if mode != "fast":
            raise InvalidRequest("a JSON batch holds hashes, which are checked fast: add mode=fast")
        items = await _hash_items(request, registry, limits)
        return JsonLinesResponse(_ordered(request, _listed(items), concurrency, cancelled))
    if kind != "multipart/form-data":
        sent = kind or "a body without a type"
        message = f"this endpoint reads multipart/form-data (files) or application/json (hashes), not {sent}"
        return error_response(415, "unsupported_content_type", message)
    boundary = parse_options_header(request.headers["content-type"])[1].get(b"boundary")
    if not boundary:
        return error_response(422, "malformed_multipart", "the multipart content type names no boundary")
    registry.admit_media()
    files = _file_items(request, boundary, registry, limits, mode, cancelled)
    return JsonLinesResponse(_ordered(request, files, concurrency, cancelled))


# --- items ------------------------------------------------------------------------------------------------------


@dataclass
class _Part:
    """One multipart part as it streams in: its name and file name from the headers, its bytes up to the cap."""

    headers: dict[bytes, bytes] = field(default_factory=dict)
    field_name: bytes = b""
    header_value: bytes = b""
    data: bytearray = field(default_factory=bytearray)
    size: int = 0

    def disposition(self) -> tuple[str, str | None]:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        return options.get(b"name", b"").decode("utf-8", "replace"), (
            None if filename is None else filename.decode("utf-8", "replace")[:_MAX_FILENAME]
        )


async def _file_items(
    request: Request,
    boundary: bytes,
    registry: Registry,
    limits: _Limits,
    mode: matching.CheckMode,
    cancelled: threading.Event,
) -> AsyncIterator[tuple[Line, Work]]:
    """Each part as an item, yielded as soon as it has fully arrived; the stream pauses while the caller is busy."""
    done: deque[_Part] = deque()
    part = _Part()
    ended = threading.Event()  # the closing boundary was read

    def on_part_begin() -> None:
        nonlocal part
        part = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part.field_name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part.header_value += data[start:end]

    def on_header_end() -> None:
        part.headers[part.field_name.lower()] = part.header_value
        part.field_name, part.header_value = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part.size += end - start
        if part.size <= limits.upload_bytes:
            part.data += data[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": lambda: done.append(part),
            "on_end": ended.set,
        },
    )
    index = 0
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            while done:
                if index == limits.items:
                    yield _refusal(index, "too_many_parts", limits.too_many())
                    return
                yield _file_item(index, done.popleft(), registry, limits, mode, cancelled)
                index += 1
        parser.finalize()
        if not ended.is_set():
            yield _refusal(index, "malformed_multipart", "the body ended before its closing boundary")
        elif index == 0:
            yield _refusal(0, "invalid_request", "the batch holds no file part")
    except MultipartParseError as exc:
        yield _refusal(index, "malformed_multipart", f"the multipart body cannot be parsed: {exc}")
    except BodyTooLarge as exc:
        yield _refusal(index, "too_large", f"{exc}; the items before this line were checked")
    except ClientDisconnect:
        cancelled.set()


def _file_item(
    index: int, part: _Part, registry: Registry, limits: _Limits, mode: matching.CheckMode, cancelled: threading.Event
) -> tuple[Line, Work]:
    name, filename = part.disposition()
    head: Line = {"index": index, "file": filename}
    content = bytes(part.data)
    part.data = bytearray()  # the item holds the only copy from here on

    def run() -> Line:
        if name != "file" or filename is None:
            raise InvalidRequest(f"part {index} ({name or 'unnamed'}) is not a file part named 'file'")
        if part.size > limits.upload_bytes:
            raise MediaTooLarge(
                f"file {index} has {part.size:,} bytes, over the upload limit of {limits.upload_bytes:,} "
                f"({limits.upload_setting})"
            )
        with request_budget(), registry.session() as session:  # each item is a check of its own, on its own budget
            view = matching.check(session=session, registry=registry, content=content, mode=mode, cancelled=cancelled)
        return view.model_dump(mode="json")

    return head, run


async def _hash_items(request: Request, registry: Registry, limits: _Limits) -> list[tuple[Line, Work]]:
    """The JSON list's items as the body streams in, each only scanned for its bounds here (on the event loop, a
    chunk at a time); a body that crosses one is refused (422) before the rest of it is read. Bytes over the caller's
    cap end it with 413 (`api.limits`)."""
    settings = registry.settings
    scanner = ArrayItems(max_items=limits.items, max_item_bytes=settings.batch_item_max_bytes, max_depth=_ITEM_DEPTH)
    texts: list[bytes] = []
    try:
        async for chunk in request.stream():
            texts += scanner.feed(chunk)
        scanner.close()
    except ArrayRefused as exc:
        named: dict[str | None, str] = {
            "max_items": limits.items_setting,
            "max_item_bytes": "PROVREG_BATCH_ITEM_MAX_BYTES",
        }
        setting = named.get(exc.limit)
        raise InvalidRequest(f"{exc} ({setting})" if setting else str(exc)) from None
    if not texts:
        raise InvalidRequest('a JSON batch is a non-empty list of hash objects, e.g. [{"pdq": "…"}]')
    return [({"index": index}, _hash_work(text, registry)) for index, text in enumerate(texts)]


def _hash_work(text: bytes, registry: Registry) -> Work:
    def run() -> Line:
        try:
            item = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as exc:
            raise InvalidRequest(f"the item is not JSON: {exc}") from None
        if not isinstance(item, dict):
            raise InvalidRequest('each item is an object of hex values by algorithm, e.g. {"pdq": "…"}')
        hashes = {alg: value for alg, value in item.items() if alg != "pdq_quality"}
        quality = item.get("pdq_quality")
        if quality is not None and (not isinstance(quality, int) or isinstance(quality, bool)):
            raise InvalidRequest("pdq_quality is an integer from 0 to 100")
        with registry.session() as session:
            view = matching.check_hashes(session=session, registry=registry, hashes=hashes, pdq_quality=quality)
        return view.model_dump(mode="json")

    return run


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _refusal(index: int, code: str, message: str) -> tuple[Line, Work]:
    """An item that stands for why the batch ended where it did."""

    def run() -> Line:
        return {"error": error_body(code, message)["error"]}

    return {"index": index}, run


async def _listed(items: list[tuple[Line, Work]]) -> AsyncIterator[tuple[Line, Work]]:
    for item in items:
        yield item


# --- running --------------------------------------------------------------------------------------------------------


async def _ordered(
    request: Request, items: AsyncIterator[tuple[Line, Work]], concurrency: int, cancelled: threading.Event
) -> AsyncIterator[bytes]:
    """Answer each item as soon as it and all before it are done, with at most `concurrency` being checked.

    Reading the next items goes on beside the answering, so a slow item never stops the upload from streaming
    in, and a finished item is answered at once even if the next one has not fully arrived.
    """
    slots = asyncio.Semaphore(concurrency)
    queue: asyncio.Queue[asyncio.Task[Line] | None] = asyncio.Queue()

    async def produce() -> None:
        try:
            async for head, work in items:
                await slots.acquire()
                task = asyncio.create_task(_run(head, work))
                task.add_done_callback(lambda _: slots.release())
                queue.put_nowait(task)
        except Exception:
            log.exception("reading the batch failed unexpectedly")
        finally:
            queue.put_nowait(None)
        await _watch_disconnect(request, cancelled)

    producer = asyncio.create_task(produce())
    try:
        while not cancelled.is_set() and (task := await queue.get()) is not None:
            yield _line(await task)
    finally:
        cancelled.set()  # whatever is still running stops at its next chance: nobody will read its line
        producer.cancel()
        while not queue.empty():
            if (left := queue.get_nowait()) is not None:
                left.cancel()


async def _run(head: Line, work: Work) -> Line:
    try:
        return {**head, **await anyio.to_thread.run_sync(work)}
    except RegistryError as exc:
        return {**head, "error": error_body(exc.code, exc.message, **exc.details)["error"]}
    except Exception:  # one item's bug must not take the others' answers with it
        log.exception("batch item %s failed unexpectedly", head.get("index"))
        message = "an unexpected error; it is logged under this request id"
        return {**head, "error": error_body("internal_error", message)["error"]}


async def _watch_disconnect(request: Request, cancelled: threading.Event) -> None:
    """Once the body is read, the next message is the client's disconnect: stop the work then."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    cancelled.set()


def _line(line: Line) -> bytes:
    return json.dumps(line, ensure_ascii=False, default=str).encode() + b"\n"
