"""Request bodies under limits: a size-capping ASGI middleware and an in-memory multipart reader.

Uploads are parsed here (python-multipart's streaming parser) rather than by Starlette's
form parser, so that (a) every byte is counted against the cap while it streams in (413
past it), and (b) nothing is spooled to a temporary file outside the server's output
folder: an upload lives in memory (bounded by the cap) until it is decoded.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clapldm.errors import AudioReadError, InvalidInputError

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 32
AUDIO_FIELD = "audio"


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than the {format_size(limit)} limit")


class BodyLimitMiddleware:
    """413 for a body above `limit_for(path)` bytes: from Content-Length before anything is
    read, and by counting the bytes of a streamed (chunked) body as they arrive."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                await _error(scope, receive, send, 400, "invalid Content-Length header")
                return
            if length > limit:
                await _error(scope, receive, send, 413, BodyTooLargeError(limit).detail)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        await self.app(scope, counted, send)


async def _error(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    response = JSONResponse({"error": message}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


@dataclass
class Upload:
    filename: str
    data: bytes


async def read_form(request: Request, max_file_bytes: int) -> tuple[dict[str, str], Upload | None]:
    """Parse a multipart/form-data body: text fields (UTF-8) and at most one file, `audio`.

    Raises HTTPException 415 (not multipart), 413 (a part above its cap) or 400 (malformed,
    duplicate or unexpected parts, non-UTF-8 text).
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    media_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if media_type != b"multipart/form-data" or not boundary:
        raise HTTPException(
            415, f"send multipart/form-data with the audio file in a field named '{AUDIO_FIELD}'"
        )

    fields: dict[str, str] = {}
    upload: Upload | None = None
    part: dict[str, Any] = {}
    parts = 0

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        if parts > MAX_PARTS:
            raise HTTPException(400, f"too many form fields (limit {MAX_PARTS})")
        part.clear()
        part.update(headers={}, field=b"", value=b"", chunks=[], size=0, name=None, filename=None)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        part["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        part["value"] += data[start:end]

    def on_header_end() -> None:
        part["headers"][part["field"].lower()] = part["value"]
        part["field"], part["value"] = b"", b""

    def on_headers_finished() -> None:
        disposition, params = parse_options_header(part["headers"].get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise HTTPException(400, "malformed multipart body: a part has no form-data name")
        part["name"] = _text(params[b"name"], "a form field name")
        if b"filename" in params:
            part["filename"] = _text(params[b"filename"], "the upload's file name")
        if part["name"] in fields or (part["name"] == AUDIO_FIELD and upload is not None):
            raise HTTPException(400, f"form field {part['name']!r} given twice")
        if part["filename"] is not None and part["name"] != AUDIO_FIELD:
            raise HTTPException(
                400, f"unexpected file in field {part['name']!r}; send the audio as '{AUDIO_FIELD}'"
            )

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["size"] += end - start
        is_file = part["name"] == AUDIO_FIELD
        cap = max_file_bytes if is_file else MAX_FIELD_BYTES
        if part["size"] > cap:
            what = "the uploaded audio" if is_file else f"form field {part['name']!r}"
            raise HTTPException(413, f"{what} is larger than the {format_size(cap)} limit")
        part["chunks"].append(data[start:end])

    def on_part_end() -> None:
        nonlocal upload
        data = b"".join(part["chunks"])
        if part["name"] == AUDIO_FIELD:
            upload = Upload(part["filename"] or "", data)
        else:
            fields[part["name"]] = _text(data, f"form field {part['name']!r}")

    callbacks: Any = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished,
        "on_part_data": on_part_data,
        "on_part_end": on_part_end,
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - python-multipart raises several error types
        raise HTTPException(400, f"malformed multipart body ({type(exc).__name__})") from None
    return fields, upload


def format_size(size: int) -> str:
    """64 KiB, 20 MiB, ... (a limit in a message)."""
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, f"{what} is not UTF-8 text") from None


def check_filename(name: str) -> str:
    """The upload's name as recorded in the recipe; refuses folders and traversal."""
    if not name:
        return ""
    if (
        len(name) > 255
        or name in (".", "..")
        or any(c in name for c in "/\\\x00")
        or not name.isprintable()
    ):
        raise InvalidInputError(
            f"upload file name {name[:80]!r} must be a plain file name (no folders)"
        )
    return name


def params_from_fields(fields: dict[str, str]) -> dict[str, Any]:
    """Form fields -> a dict for the pydantic model. A `params` field may hold a JSON object
    of parameters; other fields override it. Empty optional fields count as not given."""
    from clapldm.serve.schemas import parse_regions

    data: dict[str, Any] = {}
    if "params" in fields:
        try:
            loaded = json.loads(fields["params"])
        except json.JSONDecodeError:
            raise InvalidInputError("form field 'params' must be a JSON object") from None
        if not isinstance(loaded, dict):
            raise InvalidInputError("form field 'params' must be a JSON object")
        data.update(loaded)
    for key, value in fields.items():
        if key == "params" or (value.strip() == "" and key not in ("prompt", "negative_prompt")):
            continue
        data[key] = parse_regions(value) if key == "regions" else value
    return data


def decode_upload(upload: Upload, sample_rate: int, max_seconds: float) -> tuple[np.ndarray, int]:
    """Upload -> ((samples,) mono float32 at `sample_rate`, the file's own rate).

    Raises AudioReadError (empty, not audio, truncated, too long, non-finite samples)."""
    import soundfile as sf

    from clapldm.audio.io import read_audio

    label = f"uploaded audio {upload.filename!r}" if upload.filename else "uploaded audio"
    if not upload.data:
        raise AudioReadError(f"{label}: file is empty (0 bytes)")
    try:
        with sf.SoundFile(io.BytesIO(upload.data)) as sound:
            native_rate = int(sound.samplerate)
    except Exception:  # noqa: BLE001 - read_audio below reports the precise problem
        native_rate = sample_rate
    stream = io.BytesIO(upload.data)
    stream.name = label  # read_audio names the source in its messages
    return read_audio(stream, sample_rate, max_seconds=max_seconds), native_rate
