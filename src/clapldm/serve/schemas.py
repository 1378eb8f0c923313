"""Request and response bodies of the REST API, and the checks run before a job is queued.

Pydantic checks types (a wrong type or an unknown key is a 422); `validate` then checks
ranges with the pipeline's own helpers (a bad value is a 400 with the pipeline's message),
so a job is queued only when the pipeline will accept it. Field names are the pipeline's
keyword arguments (`guidance_scale`, `negative_prompt`, `cutoff_hz`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from clapldm.errors import InvalidInputError
from clapldm.request import SamplingRequest, check_number, resolve_seeds

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


# ------------------------------------------------------------------------ validation
@dataclass
class ValidRequest:
    """A request the pipeline will accept: what the runner needs, nothing else."""

    mode: str
    kwargs: dict[str, Any]  # keyword arguments of the pipeline method (no audio, no progress)
    seed: int
    format: str
    spectrogram: bool
    wave: np.ndarray | None = None  # (samples,) float32 at the model rate, edit modes only
    tags: dict[str, Any] = field(default_factory=dict)  # extra recipe entries (input name)


def validate(
    mode: str,
    params: SamplingParams,
    pipe: Any,
    limits: Limits,
    wave: np.ndarray | None = None,
    native_rate: int | None = None,
    input_name: str | None = None,
) -> ValidRequest:
    """Range-check `params` for `mode`; raises InvalidInputError with a one-line message."""
    from clapldm.diffusion.samplers import check_sampler
    from clapldm.request import (
        check_duration,
        check_int,
        check_number,
        check_prompts,
        check_regions,
        resolve_seeds,
    )

    if mode not in MODES:
        raise InvalidInputError(f"unknown mode {mode!r}")
    if isinstance(params, (ExtendParams, AudioPromptParams)):
        return _validate_with_clip(mode, params, pipe, limits, wave, native_rate, input_name)
    check_prompts(params.prompt, allow_empty=mode == "superres")
    if params.negative_prompt is not None:
        check_prompts(params.negative_prompt, allow_empty=True)
    sampler = check_sampler(params.sampler or pipe.config.default_sampler)
    steps = pipe.config.default_steps if params.steps is None else params.steps
    check_int("steps", steps, 1, min(limits.max_steps, pipe.scheduler_config.num_train_timesteps))
    guidance = (
        pipe.config.default_guidance_scale
        if params.guidance_scale is None
        else params.guidance_scale
    )
    check_number("guidance_scale", guidance, 0.0, 100.0)
    check_number("eta", params.eta, 0.0, 10.0)
    check_int("candidates", params.candidates, 1, limits.max_candidates)
    if params.candidates > 1 and not pipe.has_audio_tower():
        raise InvalidInputError(
            "candidates > 1 needs a CLAP with an audio tower; this model has none"
        )
    seed = (
        resolve_seeds(None, 1)[0]
        if params.seed is None
        else check_int("seed", params.seed, 0, MAX_SEED)
    )
    max_duration = min(limits.max_duration, pipe.config.max_duration)
    kwargs: dict[str, Any] = {
        "prompt": params.prompt,
        "steps": steps,
        "guidance_scale": guidance,
        "sampler": sampler,
        "eta": params.eta,
        "seed": seed,
        "candidates": params.candidates,
    }
    if params.negative_prompt is not None:
        kwargs["negative_prompt"] = params.negative_prompt
    tags: dict[str, Any] = {}
    if isinstance(params, GenerateParams):
        duration = min(5.0, max_duration) if params.duration is None else params.duration
        kwargs["duration"] = check_duration(duration, max_duration)
        return ValidRequest(mode, kwargs, seed, params.format, params.spectrogram, None, tags)

    if wave is None or native_rate is None:
        raise InvalidInputError(f"{mode} needs an audio file (multipart field 'audio')")
    if input_name:
        tags["input"] = input_name
    rate = pipe.sample_rate
    requested = getattr(params, "duration", None)
    if requested is not None:
        length = check_duration(requested, max_duration)
        kwargs["duration"] = length
        wave = wave[: round(length * rate)]
    else:
        length = len(wave) / rate
        if length > max_duration:
            raise InvalidInputError(
                f"the uploaded audio is {length:.2f} s long, above this server's {max_duration:g} s; "
                "send a shorter clip" + ("" if mode == "superres" else " or a duration to crop to")
            )
    if round(length * rate) < 2 or len(wave) < 2:
        raise InvalidInputError("the uploaded audio is too short")
    if isinstance(params, TransferParams):
        strength = check_number("strength", params.strength, 0.0, 1.0)
        if strength <= 0.0:
            raise InvalidInputError(f"strength must be in (0, 1], got {params.strength!r}")
        kwargs["strength"] = strength
    elif isinstance(params, InpaintParams):
        kwargs["regions"] = check_regions(params.regions, length)
    elif isinstance(params, SuperResParams):
        nyquist = rate / 2
        cutoff = check_number("cutoff_hz", params.cutoff_hz, 0.0, nyquist)
        if not 0.0 < cutoff < nyquist:
            raise InvalidInputError(
                f"cutoff {cutoff:g} Hz must be between 0 and the model's Nyquist ({nyquist:g} Hz)"
            )
        # The uploaded file cannot hold anything above its own Nyquist: keep up to there.
        kwargs["cutoff_hz"] = float(min(cutoff, native_rate / 2))
    return ValidRequest(
        mode,
        kwargs,
        seed,
        params.format,
        params.spectrogram,
        np.ascontiguousarray(wave, dtype=np.float32),
        tags,
    )


def _validate_with_clip(
    mode: str,
    params: ExtendParams | AudioPromptParams,
    pipe: Any,
    limits: Limits,
    wave: np.ndarray | None,
    native_rate: int | None,
    input_name: str | None,
) -> ValidRequest:
    """extend and audio-prompt: the pipeline's own request check, with this server's limits."""
    if wave is None or native_rate is None:
        raise InvalidInputError(f"{mode} needs an audio file (multipart field 'audio')")
    defaults = pipe.request_defaults().narrowed(
        max_duration=limits.max_duration,
        max_steps=limits.max_steps,
        max_candidates=limits.max_candidates,
        max_seed=MAX_SEED,
    )
    seed = resolve_seeds(None, 1)[0] if params.seed is None else params.seed
    common: dict[str, Any] = {
        "prompt": params.prompt,
        "negative_prompt": params.negative_prompt,
        "seed": seed,
        "sampler": params.sampler,
        "steps": params.steps,
        "guidance_scale": params.guidance_scale,
        "eta": params.eta,
        "candidates": params.candidates,
    }
    if isinstance(params, ExtendParams):
        total = check_number(
            "total_duration", params.total_duration, 0.0, limits.max_extend_duration
        )
        request = SamplingRequest.create(
            defaults,
            mode="extend",
            total_duration=total,
            window=params.window,
            overlap=params.overlap,
            input_samples=len(wave),
            input_rate=native_rate,
            **common,
        )
        settings = {
            "total_duration": request.duration,
            "window": request.window,
            "overlap": request.overlap,
        }
    else:
        duration = min(5.0, defaults.max_duration) if params.duration is None else params.duration
        request = SamplingRequest.create(
            defaults,
            mode="generate",
            duration=duration,
            audio_prompt_weight=params.audio_prompt_weight,
            **common,
        )
        settings = {
            "duration": request.duration,
            "audio_prompt_weight": request.audio_prompt_weight,
        }
    kwargs: dict[str, Any] = {
        "prompt": request.prompts[0],
        "steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "sampler": request.sampler,
        "eta": request.eta,
        "seed": request.seeds[0],
        "candidates": request.candidates,
        **settings,
    }
    if params.negative_prompt is not None:
        kwargs["negative_prompt"] = params.negative_prompt
    tags = {"audio_prompt" if mode == "audio-prompt" else "input": input_name} if input_name else {}
    return ValidRequest(
        mode,
        kwargs,
        request.seeds[0],
        params.format,
        params.spectrogram,
        np.ascontiguousarray(wave, dtype=np.float32),
        tags,
    )


def parse_regions(text: str) -> list[tuple[float, float]]:
    """Form field -> regions: "1.0:2.5, 4:5" (START:END seconds) or a JSON list of pairs."""
    import json

    from clapldm.request import parse_region

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
