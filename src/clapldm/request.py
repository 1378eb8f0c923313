"""What one generation asks for, checked once: `SamplingRequest` and its checks.

Every entry point builds a `SamplingRequest` with `SamplingRequest.create(defaults, ...)`:
the Python API (`AudioLDM.generate`, `transfer`, `inpaint`, `super_resolve`, `extend`),
the CLI and the server (`serve/schemas.py`). `create` is the one place where parameters
are range-checked and where a model's defaults fill what the caller left out, so a bad
value gets the same one-line `InvalidInputError` from each of them. `RequestDefaults`
says what a model fills in and accepts; a server narrows it to its own limits.

This module is a leaf: it imports nothing from the package but errors and the sampler
names, so loaders, models, pipeline, editing, CLI and server can all import it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from clapldm.diffusion.samplers import check_sampler
from clapldm.errors import InvalidInputError

MODES = ("generate", "transfer", "inpaint", "superres", "extend")
EDIT_MODES = ("transfer", "inpaint", "superres", "extend")
PRECISIONS = ("fp32", "bf16")
MAX_PROMPT_CHARS = 4096
MAX_CANDIDATES = 16
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes 64-bit seeds; s + i must fit
MAX_EXTEND_SECONDS = 3600.0
DEFAULT_DURATION = 5.0  # seconds, when a generate request names none
DEFAULT_EXTEND_WINDOW = 10.0  # seconds, capped by the model's maximum duration


# ------------------------------------------------------------------------------ results
@dataclass
class GenerationOutput:
    """Result of any mode: `audio` (B, samples) float32 at `sample_rate`.

    `scores` holds the CLAP similarity between each clip and its condition (NaN when the
    model's CLAP has no audio tower); `seeds` the seed of each returned clip; `settings`
    the recipe (what the file tags record).
    """

    audio: np.ndarray
    sample_rate: int
    scores: np.ndarray
    seeds: list[int]
    prompts: list[str]
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """A named set of sampling parameters (`clapldm generate --preset NAME`)."""

    sampler: str
    steps: int
    guidance_scale: float
    eta: float
    candidates: int

    def params(self) -> dict[str, Any]:
        """Keyword arguments for `SamplingRequest.create`."""
        return {
            "sampler": self.sampler,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "eta": self.eta,
            "candidates": self.candidates,
        }


# "audioldm" is the original package's default: DDIM 200 steps, eta 1, 3 candidates.
PRESETS = {
    "audioldm": Preset("ddim", 200, 2.5, 1.0, 3),
    "fast": Preset("dpmpp-2m", 25, 2.5, 0.0, 1),
}


# ------------------------------------------------------------------------------ checks
def is_finite(value: float) -> bool:
    """math.isfinite, but False (not OverflowError) for an int beyond float range (10**400)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def check_duration(duration: float, max_duration: float, owner: str = "this model") -> float:
    """A positive, finite number of seconds, at most `max_duration` (`owner`'s limit)."""
    if isinstance(duration, bool) or not isinstance(duration, (int, float)):
        raise InvalidInputError(f"duration must be a number of seconds, got {duration!r}")
    if not is_finite(duration) or duration <= 0:
        raise InvalidInputError(f"duration must be a positive number of seconds, got {duration!r}")
    if duration > max_duration:
        raise InvalidInputError(
            f"duration {duration:g} s is above {owner}'s maximum of {max_duration:g} s "
            "(use `extend` for longer audio)"
        )
    return float(duration)


def check_prompts(prompt: str | Sequence[str], *, allow_empty: bool = False) -> list[str]:
    """One prompt or a list of them -> list of non-empty (unless allowed) bounded texts."""
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise InvalidInputError("no prompt given")
    for text in prompts:
        if not isinstance(text, str):
            raise InvalidInputError(f"prompt must be text, got {type(text).__name__}")
        if not allow_empty and not text.strip():
            raise InvalidInputError("prompt is empty")
        if len(text) > MAX_PROMPT_CHARS:
            raise InvalidInputError(
                f"prompt is {len(text)} characters long; the limit is {MAX_PROMPT_CHARS}"
            )
    return prompts


def check_number(name: str, value: float, low: float, high: float) -> float:
    """A finite number in [low, high], as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not is_finite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise InvalidInputError(f"{name} must be in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def check_int(name: str, value: int, low: int, high: int) -> int:
    """An integer (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInputError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def resolve_seeds(
    seed: int | Sequence[int] | None, count: int, max_seed: int = MAX_SEED
) -> list[int]:
    """One seed per prompt: an int s gives s, s+1, ...; None draws fresh random seeds."""
    if seed is None:
        base = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
        return [base + i for i in range(count)]
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        check_int("seed", int(seed), 0, max_seed - count + 1)
        return [int(seed) + i for i in range(count)]
    if isinstance(seed, bool) or isinstance(seed, (str, bytes)):
        raise InvalidInputError(f"seed must be an integer or a list of integers, got {seed!r}")
    try:
        seeds = [int(s) for s in seed]
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"seed must be an integer or a list of integers, got {seed!r}"
        ) from None
    if len(seeds) != count:
        raise InvalidInputError(f"got {len(seeds)} seeds for {count} prompts")
    return [check_int("seed", s, 0, max_seed) for s in seeds]


def candidate_seed(seed: int, candidate: int) -> int:
    """The seed of candidate k of a prompt seeded `seed`: `seed` itself for k = 0 (so one
    candidate draws what it always drew), else 63 bits hashed from (seed, k) by numpy's
    SeedSequence, far from the seed+i of a batch's other prompts."""
    if candidate == 0:
        return seed
    high, low = np.random.SeedSequence([seed, candidate]).generate_state(2, dtype=np.uint32)
    return (int(high) & 0x7FFFFFFF) << 32 | int(low)


def parse_region(text: str) -> tuple[float, float]:
    """ "2.0:3.5" -> (2.0, 3.5) seconds."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise InvalidInputError(
            f"region {text!r} must look like START:END in seconds, e.g. 2.0:3.5"
        )
    try:
        start, end = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidInputError(
            f"region {text!r} must look like START:END in seconds, e.g. 2.0:3.5"
        ) from None
    return start, end


def check_regions(regions: Sequence[Sequence[float]], duration: float) -> list[tuple[float, float]]:
    """Validate regions to generate: inside [0, duration], start < end, not overlapping."""
    if not regions:
        raise InvalidInputError("give at least one region to fill (START:END seconds)")
    checked = []
    for region in regions:
        if len(region) != 2:
            raise InvalidInputError(f"region {region!r} must be (start, end) seconds")
        try:
            start, end = float(region[0]), float(region[1])
        except (TypeError, ValueError, OverflowError):
            raise InvalidInputError(f"region {region!r} must be two numbers of seconds") from None
        if not (math.isfinite(start) and math.isfinite(end)):
            raise InvalidInputError(f"region {start}:{end} is not finite")
        if start >= end:
            raise InvalidInputError(f"region {start:g}:{end:g} is empty or reversed")
        if start < 0 or end > duration + 1e-6:
            raise InvalidInputError(
                f"region {start:g}:{end:g} lies outside the clip (0:{duration:g} s)"
            )
        checked.append((start, min(end, duration)))
    checked.sort()
    for (_, end_a), (start_b, end_b) in zip(checked, checked[1:], strict=False):
        if start_b < end_a:
            raise InvalidInputError(f"regions overlap at {start_b:g}:{min(end_a, end_b):g} s")
    return checked


def check_precision(precision: str) -> str:
    """ "fp32" (exact) or "bf16" (faster, approximate)."""
    if precision not in PRECISIONS:
        raise InvalidInputError(f"precision must be fp32 or bf16, got {precision!r}")
    return precision


def check_device(device: str | torch.device) -> torch.device:
    """cpu, cuda, cuda:N or mps, and available on this machine."""
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise InvalidInputError(
            f"unknown device {device!r}; use cpu, cuda, cuda:N or mps"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' asked for, but no CUDA GPU is available")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidInputError("device 'mps' asked for, but MPS is not available")
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise InvalidInputError(f"unsupported device {device!r}; use cpu, cuda or mps")
    return resolved


def check_strength(strength: float) -> float:
    """Transfer strength in (0, 1]."""
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not 0 < strength <= 1
    ):
        raise InvalidInputError(f"strength must be in (0, 1], got {strength!r}")
    return float(strength)


def check_cutoff(cutoff_hz: float, sample_rate: int) -> float:
    """Super-resolution cutoff strictly between 0 and the model's Nyquist frequency."""
    nyquist = sample_rate / 2
    if (
        isinstance(cutoff_hz, bool)
        or not isinstance(cutoff_hz, (int, float))
        or not is_finite(cutoff_hz)
    ):
        raise InvalidInputError(f"cutoff must be a number of Hz, got {cutoff_hz!r}")
    if not 0 < cutoff_hz < nyquist:
        raise InvalidInputError(
            f"cutoff {cutoff_hz:g} Hz must be between 0 and the model's Nyquist ({nyquist:g} Hz)"
        )
    return float(cutoff_hz)


# ----------------------------------------------------------------------------- request
@dataclass(frozen=True)
class RequestDefaults:
    """What a model fills into a request and what it accepts (`AudioLDM.request_defaults`).

    A server narrows the limits with `narrowed` (its own maximum duration, steps,
    candidates, seed, extension length); messages then name "this server"'s limits."""

    sample_rate: int  # Hz
    max_duration: float  # seconds one clip may last
    sampler: str
    steps: int
    guidance_scale: float
    max_steps: int  # the scheduler's training timesteps, or less
    max_candidates: int = MAX_CANDIDATES
    max_seed: int = MAX_SEED
    has_audio_tower: bool = True  # needed by candidates > 1 and audio prompts
    max_total_duration: float = MAX_EXTEND_SECONDS  # seconds an extension may reach
    owner: str = "this model"  # whose limits these are, as messages name them

    def narrowed(
        self,
        *,
        max_duration: float | None = None,
        max_steps: int | None = None,
        max_candidates: int | None = None,
        max_seed: int | None = None,
        max_total_duration: float | None = None,
        owner: str = "this server",
    ) -> RequestDefaults:
        """The same defaults with each given limit lowered to it (never raised)."""
        return replace(
            self,
            max_duration=min(self.max_duration, max_duration or self.max_duration),
            max_steps=min(self.max_steps, max_steps or self.max_steps),
            max_candidates=min(self.max_candidates, max_candidates or self.max_candidates),
            max_seed=min(self.max_seed, max_seed or self.max_seed),
            max_total_duration=min(
                self.max_total_duration, max_total_duration or self.max_total_duration
            ),
            owner=owner,
        )


@dataclass(frozen=True)
class SamplingRequest:
    """One checked request for any mode; build it with `SamplingRequest.create`.

    Per prompt i: `prompts[i]`, `negative_prompts[i]` ("" = the unconditional text) and
    `seeds[i]` (its CPU generator draws the start noise of each of `candidates` clips in
    turn). `duration` is the output length in seconds (edit modes: the input's length
    after cropping or padding, a whole number of samples; extend: the total length).
    `precision` None runs at the pipeline's current precision. Mode settings are None
    outside their mode: `audio_prompt_weight` (generate with an audio prompt),
    `strength` (transfer), `regions` (inpaint, seconds), `cutoff_hz` (superres, already
    clamped to the input's own Nyquist), `window` / `overlap` (extend, seconds).
    `paste_back` keeps the input samples where they are kept (inpaint, superres).
    """

    mode: str
    prompts: tuple[str, ...]
    negative_prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    sampler: str
    steps: int
    guidance_scale: float
    eta: float
    candidates: int
    duration: float
    precision: str | None = None
    audio_prompt_weight: float | None = None
    strength: float | None = None
    regions: tuple[tuple[float, float], ...] | None = None
    cutoff_hz: float | None = None
    window: float | None = None
    overlap: float | None = None
    paste_back: bool = True

    @classmethod
    def create(
        cls,
        defaults: RequestDefaults,
        *,
        mode: str = "generate",
        prompt: str | Sequence[str] = "",
        negative_prompt: str | Sequence[str] | None = None,
        seed: int | Sequence[int] | None = None,
        sampler: str | None = None,
        steps: int | None = None,
        guidance_scale: float | None = None,
        eta: float = 0.0,
        candidates: int = 1,
        duration: float | None = None,
        precision: str | None = None,
        audio_prompt_weight: float | None = None,
        strength: float | None = None,
        regions: Sequence[Sequence[float]] | None = None,
        cutoff_hz: float | None = None,
        total_duration: float | None = None,
        window: float | None = None,
        overlap: float | None = None,
        paste_back: bool = True,
        input_samples: int | None = None,
        input_rate: int | None = None,
    ) -> SamplingRequest:
        """Check every parameter against `defaults` and fill what is None from them.

        Edit modes need `input_samples` (the input's length at the model rate) and, for
        superres, `input_rate` (the input's own rate: nothing above its Nyquist is kept).
        `audio_prompt_weight` is given only when generating with an audio prompt (then
        the text prompt may be empty). Raises InvalidInputError with a one-line message.
        """
        if mode not in MODES:
            raise InvalidInputError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        allow_empty = mode == "superres" or audio_prompt_weight is not None
        prompts = check_prompts(prompt, allow_empty=allow_empty)
        if mode == "extend" and len(prompts) != 1:
            raise InvalidInputError("extend takes one prompt")
        sampling = _check_sampling(
            defaults, sampler, steps, guidance_scale, eta, candidates, precision
        )
        negatives = _check_negatives(negative_prompt, len(prompts))
        if mode == "generate":
            length = _generate_duration(defaults, duration)
        else:
            length = _input_duration(defaults, mode, duration, input_samples)
        modes = _check_mode_settings(
            defaults,
            mode,
            length,
            audio_prompt_weight=audio_prompt_weight,
            strength=strength,
            regions=regions,
            cutoff_hz=cutoff_hz,
            total_duration=total_duration,
            window=window,
            overlap=overlap,
            input_rate=input_rate,
        )
        seeds = resolve_seeds(seed, 1 if mode == "extend" else len(prompts), defaults.max_seed)
        return cls(
            mode=mode,
            prompts=tuple(prompts),
            negative_prompts=negatives,
            seeds=tuple(seeds),
            duration=modes.pop("duration", length),
            paste_back=bool(paste_back),
            **sampling,
            **modes,
        )

    def settings(self) -> dict[str, Any]:
        """The sampling part of the recipe a generated file records (besides the mode)."""
        negatives = list(self.negative_prompts)
        return {
            "sampler": self.sampler,
            "steps": self.steps,
            "guidance_scale": self.guidance_scale,
            "eta": self.eta,
            "duration": self.duration,
            "candidates": self.candidates,
            "negative_prompt": negatives[0] if len(set(negatives)) == 1 else negatives,
        }


def _check_sampling(
    defaults: RequestDefaults,
    sampler: str | None,
    steps: int | None,
    guidance_scale: float | None,
    eta: float,
    candidates: int,
    precision: str | None,
) -> dict[str, Any]:
    """The parameters every mode shares, with the model's defaults filled in."""
    steps = defaults.steps if steps is None else steps
    guidance = defaults.guidance_scale if guidance_scale is None else guidance_scale
    checked = {
        "sampler": check_sampler(sampler or defaults.sampler),
        "steps": check_int("steps", steps, 1, defaults.max_steps),
        "guidance_scale": check_number("guidance_scale", guidance, 0.0, 100.0),
        "eta": check_number("eta", eta, 0.0, 10.0),
        "candidates": check_int("candidates", candidates, 1, defaults.max_candidates),
        "precision": precision,
    }
    if candidates > 1 and not defaults.has_audio_tower:
        raise InvalidInputError(
            "candidates > 1 needs a CLAP with an audio tower; this model has none"
        )
    if precision is not None:
        check_precision(precision)
    return checked


def _check_negatives(negative_prompt: str | Sequence[str] | None, count: int) -> tuple[str, ...]:
    """One negative prompt per prompt ("" when none is given; one is shared by all)."""
    negatives = check_prompts(
        negative_prompt if negative_prompt is not None else [""] * count, allow_empty=True
    )
    if len(negatives) == 1 and count > 1:
        negatives = negatives * count
    if len(negatives) != count:
        raise InvalidInputError(f"got {len(negatives)} negative prompts for {count} prompts")
    return tuple(negatives)


def _generate_duration(defaults: RequestDefaults, duration: float | None) -> float:
    if duration is None:
        duration = min(DEFAULT_DURATION, defaults.max_duration)
    return check_duration(duration, defaults.max_duration, defaults.owner)


def _input_duration(
    defaults: RequestDefaults, mode: str, duration: float | None, input_samples: int | None
) -> float:
    """The edited clip's length in seconds: `duration` (crop / pad) or the input's own."""
    if input_samples is None:
        raise InvalidInputError(f"{mode} needs an input clip")
    rate = defaults.sample_rate
    if mode == "extend":
        if duration is not None:
            raise InvalidInputError("extend takes total_duration, not duration")
        return input_samples / rate
    if duration is None:
        seconds = input_samples / rate
        if seconds > defaults.max_duration:
            hint = "" if mode == "superres" else " or a duration to crop to"
            raise InvalidInputError(
                f"the input audio is {seconds:.2f} s long, above {defaults.owner}'s maximum "
                f"of {defaults.max_duration:g} s; pass a shorter clip{hint}"
            )
    else:
        seconds = check_duration(duration, defaults.max_duration, defaults.owner)
    samples = round(seconds * rate)
    if samples < 2:
        raise InvalidInputError("the input audio is too short (fewer than 2 samples)")
    return samples / rate


def _check_mode_settings(
    defaults: RequestDefaults,
    mode: str,
    length: float,
    *,
    audio_prompt_weight: float | None,
    strength: float | None,
    regions: Sequence[Sequence[float]] | None,
    cutoff_hz: float | None,
    total_duration: float | None,
    window: float | None,
    overlap: float | None,
    input_rate: int | None,
) -> dict[str, Any]:
    """The settings of `mode` (and only those), checked; other modes' settings refused."""
    given = {
        "audio_prompt_weight": (audio_prompt_weight, "generate"),
        "strength": (strength, "transfer"),
        "regions": (regions, "inpaint"),
        "cutoff_hz": (cutoff_hz, "superres"),
        "total_duration": (total_duration, "extend"),
        "window": (window, "extend"),
        "overlap": (overlap, "extend"),
    }
    for name, (value, owner) in given.items():
        if value is not None and owner != mode:
            raise InvalidInputError(f"{name} applies to {owner}, not to {mode}")
    if mode == "generate" and audio_prompt_weight is not None:
        if not defaults.has_audio_tower:
            raise InvalidInputError(
                "an audio prompt needs a CLAP with an audio tower; this model has none"
            )
        weight = check_number("audio_prompt_weight", audio_prompt_weight, 0.0, 1.0)
        return {"audio_prompt_weight": weight}
    if mode == "transfer":
        return {"strength": check_strength(0.5 if strength is None else strength)}
    if mode == "inpaint":
        return {"regions": tuple(check_regions(regions or [], length))}
    if mode == "superres":
        cutoff = check_cutoff(4000.0 if cutoff_hz is None else cutoff_hz, defaults.sample_rate)
        return {"cutoff_hz": float(min(cutoff, (input_rate or defaults.sample_rate) / 2))}
    if mode == "extend":
        return _check_extend(defaults, length, total_duration, window, overlap)
    return {}


def _check_extend(
    defaults: RequestDefaults,
    input_seconds: float,
    total_duration: float | None,
    window: float | None,
    overlap: float | None,
) -> dict[str, Any]:
    if (
        isinstance(total_duration, bool)
        or not isinstance(total_duration, (int, float))
        or not is_finite(total_duration)
    ):
        raise InvalidInputError(
            f"total duration must be a number of seconds, got {total_duration!r}"
        )
    maximum = defaults.max_duration
    window = min(maximum, DEFAULT_EXTEND_WINDOW) if window is None else float(window)
    overlap = window / 2 if overlap is None else float(overlap)
    if not 0 < overlap < window <= maximum:
        raise InvalidInputError(
            f"need 0 < overlap ({overlap:g}) < window ({window:g}) <= {maximum:g} s"
        )
    rate = defaults.sample_rate
    if round(total_duration * rate) <= round(input_seconds * rate):
        raise InvalidInputError(
            f"total duration {total_duration:g} s must exceed the input's {input_seconds:.2f} s"
        )
    check_number("total_duration", total_duration, 0.0, defaults.max_total_duration)
    return {"duration": float(total_duration), "window": window, "overlap": overlap}
