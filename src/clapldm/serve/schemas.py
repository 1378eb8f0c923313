"""Request and response bodies of the REST API, and the checks run before a job is queued.

Pydantic checks types (a wrong type or an unknown key is a 422); `validate` then builds
the pipeline's own `SamplingRequest` (request.py) under this server's limits (a bad value
is a 400 with the same message the Python API and the CLI give), so a job is queued only
when the pipeline will accept it. Field names are `SamplingRequest.create`'s keyword
arguments (`guidance_scale`, `negative_prompt`, `cutoff_hz`, ...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from clapldm.editing import InputClip, load_input
from clapldm.errors import InvalidInputError
from clapldm.pipeline import check_lora_scale
from clapldm.request import SamplingRequest, parse_region

MAX_SEED = 2**53 - 1  # exact in JavaScript numbers, so the page shows the seed used
MODES = ("generate", "transfer", "inpaint", "superres", "extend", "audio-prompt")
UPLOAD_MODES = MODES[1:]  # every mode but generate takes an audio file


@dataclass(frozen=True)
class Limits:
    """What one server accepts (CLI flags of `clapldm serve`)."""

    max_duration: float
    max_steps: int = 200
    max_candidates: int = 4
    max_upload_bytes: int = 20 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    max_input_seconds: float = 600.0  # an upload may be longer than max_duration if cropped
    max_extend_duration: float = 60.0  # the longest result `extend` may build, seconds
    loras: tuple[str, ...] = ()  # adapter names from `serve --lora-dir` (requests name these)


class SamplingParams(BaseModel):
    """Parameters every mode shares. Omitted values take the model's defaults."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", description="text describing the sound")
    negative_prompt: str | None = Field(None, description="replaces the empty unconditional text")
    steps: int | None = Field(None, description="sampling steps (default: the model's)")
    guidance_scale: float | None = Field(None, description="classifier-free guidance scale")
    sampler: str | None = Field(None, description="ddim or dpmpp-2m (default: the model's)")
    eta: float = Field(0.0, description="DDIM eta (0 = deterministic)")
    seed: int | None = Field(
        None, description="random seed; omitted = drawn by the server and reported"
    )
    candidates: int = Field(1, description="generate N, keep the one CLAP ranks best")
    format: Literal["wav", "flac", "ogg"] = Field("wav", description="output file format")
    spectrogram: bool = Field(True, description="also render a spectrogram PNG")
    loras: dict[str, float] = Field(
        default_factory=dict,
        description="LoRA adapter name -> scale (1 = as trained); names from the server's "
        "--lora-dir only (GET /v1/config lists them)",
    )


class GenerateParams(SamplingParams):
    prompt: str = Field(..., description="text describing the sound")
    duration: float | None = Field(None, description="seconds (default: 5 s or the server maximum)")


class TransferParams(SamplingParams):
    prompt: str = Field(..., description="text describing the target sound")
    strength: float = Field(0.5, description="(0, 1]: 1 ignores the input, small keeps it")
    duration: float | None = Field(None, description="crop or pad the input to this many seconds")


class InpaintParams(SamplingParams):
    prompt: str = Field(..., description="text describing what fills the regions")
    regions: list[tuple[float, float]] = Field(
        ..., description="[[start, end], ...] seconds to regenerate"
    )
    duration: float | None = Field(None, description="crop or pad the input to this many seconds")


class SuperResParams(SamplingParams):
    prompt: str = Field("", description="optional text guiding the regenerated high band")
    cutoff_hz: float = Field(4000.0, description="keep the input below this frequency (Hz)")


class ExtendParams(SamplingParams):
    prompt: str = Field(..., description="text describing how the sound goes on")
    total_duration: float = Field(
        ..., description="seconds of the result: the input, then generated audio"
    )
    window: float | None = Field(
        None, description="seconds generated per window (default: 10 s or the model maximum)"
    )
    overlap: float | None = Field(
        None, description="seconds of each window taken from what exists (default: half)"
    )


class AudioPromptParams(SamplingParams):
    prompt: str = Field("", description="optional text, mixed with the audio prompt")
    audio_prompt_weight: float = Field(
        1.0, description="[0, 1]: 1 conditions on the uploaded clip alone, 0 on the text alone"
    )
    duration: float | None = Field(None, description="seconds (default: 5 s or the server maximum)")


PARAMS: dict[str, type[SamplingParams]] = {
    "generate": GenerateParams,
    "transfer": TransferParams,
    "inpaint": InpaintParams,
    "superres": SuperResParams,
    "extend": ExtendParams,
    "audio-prompt": AudioPromptParams,
}


# ------------------------------------------------------------------------- responses
class ErrorBody(BaseModel):
    error: str = Field(..., description="one line saying what is wrong")


class JobResult(BaseModel):
    audio_url: str
    spectrogram_url: str | None = None
    seed: int
    sample_rate: int
    duration: float = Field(..., description="seconds")
    score: float | None = Field(
        None, description="CLAP text-audio similarity, if the model has an audio tower"
    )
    settings: dict[str, Any] = Field(default_factory=dict)


class JobStatus(BaseModel):
    id: str
    mode: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float = Field(..., description="percent, 0..100")
    stage: str
    error: str | None = None
    seed: int | None = None
    queue_position: int | None = Field(None, description="0 = next to run")
    cancel_requested: bool = False
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    status_url: str
    result: JobResult | None = None


class Health(BaseModel):
    status: Literal["ok"]
    model: str
    queued: int
    running: int
    max_queue: int
    workers: int
    completed: int


class ServerConfig(BaseModel):
    model: str
    sample_rate: int
    samplers: list[str]
    default_sampler: str
    default_steps: int
    default_guidance_scale: float
    max_duration: float
    max_steps: int
    max_candidates: int
    max_upload_bytes: int
    max_seed: int
    loras: list[str] = Field(default_factory=list, description="LoRA adapters requests may name")


# ------------------------------------------------------------------------ validation
@dataclass
class ValidRequest:
    """A request the pipeline will accept: what the runner needs, nothing else.

    `mode` is the endpoint's ("audio-prompt" runs a generate request conditioned on the
    uploaded clip); `clip` the uploaded audio at the model rate (every mode but generate)."""

    mode: str
    request: SamplingRequest
    format: str
    spectrogram: bool
    clip: InputClip | None = None
    tags: dict[str, Any] = field(default_factory=dict)  # extra recipe entries (input name)
    loras: dict[str, float] = field(default_factory=dict)  # adapter name -> scale

    @property
    def seed(self) -> int:
        return self.request.seeds[0]


def validate(
    mode: str,
    params: SamplingParams,
    pipe: Any,
    limits: Limits,
    wave: np.ndarray | None = None,
    native_rate: int | None = None,
    input_name: str | None = None,
) -> ValidRequest:
    """Check `params` for `mode` with the pipeline's own `SamplingRequest.create`, under
    this server's limits; raises InvalidInputError with a one-line message.

    `wave` (samples,) is the upload at the model rate and `native_rate` its own rate."""
    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}")
    defaults = pipe.request_defaults().narrowed(
        max_duration=limits.max_duration,
        max_steps=limits.max_steps,
        max_candidates=limits.max_candidates,
        max_seed=MAX_SEED,
        max_total_duration=limits.max_extend_duration,
    )
    fields = params.model_dump(exclude={"format", "spectrogram", "loras"})
    loras = check_loras(params.loras, limits.loras)
    clip = None
    if mode in UPLOAD_MODES:
        if wave is None or native_rate is None:
            raise InvalidInputError(f"{mode} needs an audio file (multipart field 'audio')")
        rate = pipe.sample_rate
        clip = InputClip(load_input(wave, rate, rate).wave, int(native_rate))
    if mode == "audio-prompt":
        request = SamplingRequest.create(defaults, mode="generate", **fields)
    elif clip is not None:
        request = SamplingRequest.create(
            defaults,
            mode=mode,
            input_samples=len(clip.wave),
            input_rate=clip.native_rate,
            **fields,
        )
    else:
        request = SamplingRequest.create(defaults, mode=mode, **fields)
    tags = {}
    if input_name:
        tags["audio_prompt" if mode == "audio-prompt" else "input"] = input_name
    return ValidRequest(mode, request, params.format, params.spectrogram, clip, tags, loras)


def check_loras(requested: dict[str, float], offered: tuple[str, ...]) -> dict[str, float]:
    """Adapters are named, never given as paths: only names of the server's library."""
    for name in requested:
        if name not in offered:
            listed = ", ".join(offered) if offered else "none (start it with --lora-dir DIR)"
            raise InvalidInputError(f"unknown LoRA adapter {name!r}; this server offers: {listed}")
    return {name: check_lora_scale(scale) for name, scale in requested.items()}


def parse_regions(text: str) -> list[tuple[float, float]]:
    """Form field -> regions: "1.0:2.5, 4:5" (START:END seconds) or a JSON list of pairs."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInputError(
                "regions must be START:END[,START:END...] or a JSON list of pairs"
            ) from None
        if not isinstance(value, list) or not all(
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
            for pair in value
        ):
            raise InvalidInputError("regions must be a JSON list of [start, end] pairs (seconds)")
        return [(float(a), float(b)) for a, b in value]
    parts = [part for part in text.replace(";", ",").split(",") if part.strip()]
    if not parts:
        raise InvalidInputError("give at least one region to fill (START:END seconds)")
    return [parse_region(part.strip()) for part in parts]
