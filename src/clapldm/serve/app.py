"""The server: a FastAPI app with the REST API (`/v1/...`), `/health` and the web page (`/`).

`create_app(pipe_or_model, output_dir, ...)` builds everything; tests pass a tiny pipeline.
Requests are validated before a job is queued (bad input: 4xx with `{"error": "..."}` and
nothing written); jobs run on worker threads (`jobs.JobManager`), never on the event loop;
a full queue answers 429 with Retry-After. The server reads and writes files only inside
`output_dir`, under names it makes from job ids (UUIDs).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from clapldm import __version__
from clapldm.diffusion.samplers import SAMPLERS
from clapldm.errors import AudioReadError, ClapLdmError, InvalidInputError, OutputError
from clapldm.pipeline import AudioLDM
from clapldm.serve.jobs import (
    Job,
    JobFinishedError,
    JobManager,
    JobNotFoundError,
    JobState,
    QueueFullError,
)
from clapldm.serve.runner import MEDIA_TYPES, AudioRunner
from clapldm.serve.schemas import (
    MAX_SEED,
    PARAMS,
    UPLOAD_MODES,
    ErrorBody,
    GenerateParams,
    Health,
    JobStatus,
    Limits,
    ServerConfig,
    validate,
)
from clapldm.serve.uploads import (
    AUDIO_FIELD,
    BodyLimitMiddleware,
    check_filename,
    decode_upload,
    params_from_fields,
    read_form,
)

logger = logging.getLogger(__name__)

_JOB_ID = re.compile(r"[0-9a-f]{32}")
_FASTAPI_BODY_ERROR = "There was an error parsing the body"
_STATIC = {"app.js": "text/javascript", "style.css": "text/css"}
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "invalid parameter or unreadable audio"),
        (413, "request or upload too large"),
        (422, "malformed request body"),
        (429, "queue full: retry after the Retry-After header's seconds"),
    )
}


def create_app(
    pipe_or_model: Any,
    output_dir: str | os.PathLike[str],
    max_queue: int = 8,
    max_duration: float | None = None,
    *,
    workers: int = 1,
    max_steps: int = 200,
    max_candidates: int = 4,
    max_upload_bytes: int = 20 * 1024 * 1024,
    job_ttl_seconds: float = 1800.0,
    max_jobs: int = 256,
    device: str = "cpu",
    lora_dir: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """Build the server around a pipeline (or a model path / hub id / None = bundled).

    `output_dir` is created if needed and is the only place the server writes. Finished
    jobs (and their files) expire after `job_ttl_seconds`; at most `max_jobs` are kept.
    `lora_dir`: a folder of LoRA adapter folders; requests may name those (by folder
    name) and nothing else (`load_lora_library`).
    """
    pipe = (
        pipe_or_model
        if isinstance(pipe_or_model, AudioLDM)
        else AudioLDM.from_pretrained(pipe_or_model, device=device)
    )
    folder = _output_folder(output_dir)
    limit = (
        pipe.config.max_duration
        if max_duration is None
        else min(float(max_duration), pipe.config.max_duration)
    )
    if not limit > 0:
        raise InvalidInputError(f"max duration must be positive, got {max_duration!r}")
    loras = load_lora_library(pipe, lora_dir) if lora_dir is not None else ()
    limits = Limits(
        max_duration=limit,
        max_steps=max_steps,
        max_candidates=max_candidates,
        max_upload_bytes=max_upload_bytes,
        loras=loras,
    )
    manager = JobManager(
        AudioRunner(pipe, folder),
        max_queue=max_queue,
        workers=workers,
        ttl_seconds=job_ttl_seconds,
        max_jobs=max_jobs,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        manager.start()
        logger.info("clapldm server: model %s, outputs in %s", pipe.name, folder)
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)

    app = FastAPI(
        title="clapldm",
        version=__version__,
        description="Text-to-audio generation and text-guided editing (AudioLDM). Jobs are queued; "
        "poll `GET /v1/jobs/{id}` and fetch `/v1/jobs/{id}/audio` when the state is `done`.",
        lifespan=lifespan,
    )
    app.state.pipe = pipe
    app.state.manager = manager
    app.state.limits = limits
    app.state.output_dir = folder
    edit_paths = {f"/v1/{mode}" for mode in UPLOAD_MODES}
    app.add_middleware(
        BodyLimitMiddleware,
        limit_for=lambda path: (
            limits.max_upload_bytes + 2**20 if path in edit_paths else limits.max_json_bytes
        ),
    )
    _add_error_handlers(app)
    _add_api_routes(app, pipe, manager, limits)
    _add_page_routes(app)
    return app


def load_lora_library(pipe: Any, folder: str | os.PathLike[str]) -> tuple[str, ...]:
    """Load every adapter folder directly inside `folder` onto `pipe`, switched off (scale 0),
    under its folder name; returns the names requests may use. A folder that is not an
    adapter, has an unusable name, or was trained on another base model is skipped with a
    warning; a `folder` that is missing is a one-line error."""
    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"--lora-dir {root}: no such folder")
    names = []
    for sub in sorted(p for p in root.iterdir() if (p / "adapter_config.json").is_file()):
        try:
            pipe.load_lora(sub, scale=0.0, name=sub.name)
        except ClapLdmError as exc:
            logger.warning("LoRA adapter %s skipped: %s", sub.name, exc)
            continue
        names.append(sub.name)
    logger.info("LoRA adapters offered: %s", ", ".join(names) or "none")
    return tuple(names)


def _output_folder(output_dir: str | os.PathLike[str]) -> Path:
    """The server's output folder, created if needed, resolved, and writable."""
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder} ({exc.strerror or exc})") from None
    folder = folder.resolve()
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder {folder} is not writable")
    return folder


# ------------------------------------------------------------------------------ errors
def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message[:1000]}, status_code=status, headers=headers)


def _describe_validation(errors: Any) -> str:
    parts = []
    for err in errors:
        if err.get("type") == "json_invalid":
            return "request body is not valid JSON"
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body")
        parts.append(
            f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))
        )
    return "; ".join(parts) or "invalid request"


def _add_error_handlers(app: FastAPI) -> None:
    async def on_user_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(400, str(exc))

    async def on_server_error(_: Request, exc: Exception) -> JSONResponse:
        logger.error("request failed: %s", exc)
        return _error(500, str(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        return _error(422, _describe_validation(exc.errors()))  # type: ignore[attr-defined]

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = str(exc.detail)
        if exc.status_code == 400 and message == _FASTAPI_BODY_ERROR:  # e.g. not UTF-8
            message = "request body is not valid UTF-8 JSON"
        return _error(exc.status_code, message, dict(exc.headers or {}))

    async def on_queue_full(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QueueFullError)
        return _error(429, str(exc), {"Retry-After": str(exc.retry_after)})

    async def on_not_found(_: Request, exc: Exception) -> JSONResponse:
        return _error(404, "unknown job (never existed, or expired)")

    async def on_finished(_: Request, exc: Exception) -> JSONResponse:
        return _error(409, str(exc))

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", exc_info=exc)
        return _error(500, f"internal error: {type(exc).__name__}")

    app.add_exception_handler(InvalidInputError, on_user_error)
    app.add_exception_handler(AudioReadError, on_user_error)
    app.add_exception_handler(ClapLdmError, on_server_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(ValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(QueueFullError, on_queue_full)
    app.add_exception_handler(JobNotFoundError, on_not_found)
    app.add_exception_handler(JobFinishedError, on_finished)
    app.add_exception_handler(Exception, on_unexpected)


# --------------------------------------------------------------------------------- API
def _status(job: Job, manager: JobManager) -> JobStatus:
    base = f"/v1/jobs/{job.id}"
    result = None
    if job.state is JobState.DONE:
        result = {
            **job.result,
            "audio_url": f"{base}/audio",
            "spectrogram_url": f"{base}/spectrogram" if "spectrogram" in job.files else None,
        }
    return JobStatus.model_validate(
        {
            "id": job.id,
            "mode": job.mode,
            "state": job.state.value,
            "progress": round(100.0 * job.progress, 1),
            "stage": job.stage,
            "error": job.error,
            "seed": job.seed,
            "queue_position": manager.queue_position(job),
            "cancel_requested": job.cancel_requested.is_set(),
            "created_at": job.created,
            "started_at": job.started,
            "finished_at": job.finished,
            "status_url": base,
            "result": result,
        }
    )


def _find(manager: JobManager, job_id: str) -> Job:
    if not _JOB_ID.fullmatch(job_id):
        raise JobNotFoundError(job_id)
    return manager.get(job_id)


def _multipart_body(mode: str) -> dict[str, Any]:
    """OpenAPI requestBody of an edit endpoint (parsed by hand, so described by hand)."""
    schema = PARAMS[mode].model_json_schema()
    properties: dict[str, Any] = {
        AUDIO_FIELD: {"type": "string", "format": "binary", "description": "the input audio file"}
    }
    properties.update(schema["properties"])
    if "regions" in properties:
        properties["regions"] = {
            "type": "string",
            "description": "START:END seconds, comma-separated (e.g. 1.0:2.5,4:5), or a JSON list of pairs",
        }
    properties["params"] = {
        "type": "string",
        "description": "optional JSON object of parameters (other fields override it)",
    }
    required = [AUDIO_FIELD, *schema.get("required", [])]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": properties, "required": required}
                }
            },
        }
    }


def _add_api_routes(app: FastAPI, pipe: Any, manager: JobManager, limits: Limits) -> None:
    """Every REST route, in the order the OpenAPI schema lists them."""
    _add_server_routes(app, pipe, manager, limits)
    _add_submit_routes(app, pipe, manager, limits)
    _add_job_routes(app, manager)


def _add_server_routes(app: FastAPI, pipe: Any, manager: JobManager, limits: Limits) -> None:
    """GET /health and /v1/config."""

    @app.get("/health", response_model=Health, tags=["server"])
    async def health() -> Health:
        """Liveness and queue load; answered on the event loop, never behind a job."""
        stats = manager.stats()
        return Health(
            status="ok",
            model=pipe.name,
            queued=stats["queued"],
            running=stats["running"],
            max_queue=stats["max_queue"],
            workers=stats["workers"],
            completed=stats["completed"],
        )

    @app.get("/v1/config", response_model=ServerConfig, tags=["server"])
    async def config() -> ServerConfig:
        """The model's defaults and this server's limits (the web page reads these)."""
        return ServerConfig(
            model=pipe.name,
            sample_rate=pipe.sample_rate,
            samplers=sorted(SAMPLERS),
            default_sampler=pipe.config.default_sampler,
            default_steps=pipe.config.default_steps,
            default_guidance_scale=pipe.config.default_guidance_scale,
            max_duration=limits.max_duration,
            max_steps=limits.max_steps,
            max_candidates=limits.max_candidates,
            max_upload_bytes=limits.max_upload_bytes,
            max_seed=MAX_SEED,
            loras=list(limits.loras),
        )


def _add_submit_routes(app: FastAPI, pipe: Any, manager: JobManager, limits: Limits) -> None:
    """POST /v1/generate (JSON) and one multipart POST per mode that takes a clip."""

    def accepted(job: Job, response: Response) -> JobStatus:
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return _status(job, manager)

    @app.post(
        "/v1/generate", status_code=202, response_model=JobStatus, responses=_ERRORS, tags=["jobs"]
    )
    async def generate(params: GenerateParams, response: Response) -> JobStatus:
        """Queue text-to-audio generation (JSON body)."""
        valid = validate("generate", params, pipe, limits)
        return accepted(manager.submit("generate", valid, valid.seed), response)

    async def edit(mode: str, request: Request, response: Response) -> JobStatus:
        fields, upload = await read_form(request, limits.max_upload_bytes)
        params = PARAMS[mode].model_validate(params_from_fields(fields))
        if upload is None:
            raise InvalidInputError(
                f"{mode} needs an audio file in the multipart field '{AUDIO_FIELD}'"
            )
        name = check_filename(upload.filename)
        wave, native_rate = await run_in_threadpool(
            decode_upload, upload, pipe.sample_rate, limits.max_input_seconds
        )
        del upload
        valid = validate(mode, params, pipe, limits, wave, native_rate, name)
        return accepted(manager.submit(mode, valid, valid.seed), response)

    for mode, summary in (
        ("transfer", "Queue text-guided style transfer of an uploaded clip (multipart)."),
        ("inpaint", "Queue inpainting: regenerate time regions of an uploaded clip (multipart)."),
        ("superres", "Queue super-resolution: regenerate the band above a cutoff (multipart)."),
        ("extend", "Queue extension: continue an uploaded clip to a total duration (multipart)."),
        (
            "audio-prompt",
            "Queue generation conditioned on an uploaded clip, optionally with text (multipart).",
        ),
    ):
        app.add_api_route(
            f"/v1/{mode}",
            _edit_endpoint(edit, mode),
            methods=["POST"],
            status_code=202,
            response_model=JobStatus,
            responses=_ERRORS,
            tags=["jobs"],
            summary=summary,
            name=mode,
            openapi_extra=_multipart_body(mode),
        )


def _add_job_routes(app: FastAPI, manager: JobManager) -> None:
    """A job's status, cancellation and files."""

    @app.get(
        "/v1/jobs/{job_id}",
        response_model=JobStatus,
        responses={404: {"model": ErrorBody}},
        tags=["jobs"],
    )
    async def job_status(job_id: str) -> JobStatus:
        """State, progress (percent), error, seed, and the result's URLs once done."""
        return _status(_find(manager, job_id), manager)

    @app.delete(
        "/v1/jobs/{job_id}",
        response_model=JobStatus,
        tags=["jobs"],
        responses={
            202: {"model": JobStatus, "description": "running: cancels at its next step"},
            404: {"model": ErrorBody},
            409: {"model": ErrorBody, "description": "already finished"},
        },
    )
    async def cancel(job_id: str, response: Response) -> JobStatus:
        """Cancel a job: a queued one at once (200), a running one at its next step (202)."""
        job = manager.cancel(_find(manager, job_id).id)
        if not job.is_finished:
            response.status_code = 202
        return _status(job, manager)

    @app.get(
        "/v1/jobs/{job_id}/audio",
        response_class=FileResponse,
        tags=["jobs"],
        responses={
            200: {"content": {"audio/wav": {}, "audio/flac": {}, "audio/ogg": {}}},
            404: {"model": ErrorBody},
            409: {"model": ErrorBody},
        },
    )
    async def job_audio(job_id: str, download: bool = False) -> FileResponse:
        """The output audio file (recipe in its tags); `?download=1` names it for saving."""
        return _job_file(manager, job_id, "audio", download)

    @app.get(
        "/v1/jobs/{job_id}/spectrogram",
        response_class=FileResponse,
        tags=["jobs"],
        responses={
            200: {"content": {"image/png": {}}},
            404: {"model": ErrorBody},
            409: {"model": ErrorBody},
        },
    )
    async def job_spectrogram(job_id: str) -> FileResponse:
        """Log-mel spectrogram PNG of the output."""
        return _job_file(manager, job_id, "spectrogram", False)


def _job_file(manager: JobManager, job_id: str, kind: str, download: bool) -> FileResponse:
    """A finished job's file, or the HTTP error saying why there is none."""
    job = _find(manager, job_id)
    if job.state is not JobState.DONE:
        raise HTTPException(
            409,
            f"job {job.id} is {job.state.value}; it has no {kind} yet"
            if not job.is_finished
            else f"job {job.id} {job.state.value}; it has no {kind}",
        )
    path = job.files.get(kind)
    if path is None or not path.is_file():
        raise HTTPException(404, f"job {job.id} has no {kind} (not asked for, or expired)")
    suffix = path.suffix.lstrip(".")
    filename = f"clapldm-{job.mode}-{job.result.get('seed', job.id)}.{suffix}" if download else None
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[suffix],
        filename=filename,
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _edit_endpoint(edit: Any, mode: str) -> Any:
    async def endpoint(request: Request, response: Response) -> JobStatus:
        return await edit(mode, request, response)

    endpoint.__name__ = mode
    return endpoint


# -------------------------------------------------------------------------------- page
def _static(name: str) -> str:
    return (resources.files("clapldm.serve") / "static" / name).read_text(encoding="utf-8")


def _add_page_routes(app: FastAPI) -> None:
    page = _static("index.html")
    assets = {name: _static(name) for name in _STATIC}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    @app.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in assets:  # a fixed set: no path is ever built from the request
            raise HTTPException(404, "not found")
        return Response(assets[name], media_type=_STATIC[name], headers=_PAGE_HEADERS)
