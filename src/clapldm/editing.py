"""Editing with a text-to-audio LDM, no retraining: the latent is tractable.

- transfer: noise a clip's latent to the level `strength` selects, denoise with the text.
- inpaint: a latent mask (1 keep, 0 generate); before every model call the kept region is
  the real latent noised to the current level, after the last step the real latent.
- super_resolve: the same with a frequency mask (latent bins above the cutoff generated).
- extend: windowed outpainting, each window generated with its overlap observed.

The output waveform keeps the input samples wherever the user asked to keep them,
cross-faded into the generated audio over `CROSSFADE_SECONDS` inside the generated part.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from clapldm.audio.io import read_audio, to_mono_resampled
from clapldm.diffusion.schedule import q_sample
from clapldm.errors import AudioReadError, InvalidInputError

if TYPE_CHECKING:
    from clapldm.pipeline import AudioLDM, GenerationOutput

CROSSFADE_SECONDS = 0.05  # raised-cosine fade placed inside each generated region
MAX_INPUT_SECONDS = 3600.0
MIN_INPUT_SECONDS = 0.05


# ------------------------------------------------------------------------------ inputs
def load_input(
    pipe: AudioLDM, audio: Any, sample_rate: int | None = None
) -> tuple[np.ndarray, int]:
    """A path, bytes, array or tensor -> (mono float32 at the model rate, original rate)."""
    target = pipe.sample_rate
    if isinstance(audio, (str, os.PathLike, bytes)):
        if isinstance(audio, bytes):
            raise InvalidInputError("pass audio as a file path or an array with sample_rate=")
        import soundfile as sf

        try:
            native_rate = sf.info(os.fspath(audio)).samplerate
        except Exception:  # noqa: BLE001 - read_audio below gives the precise error
            native_rate = target
        wave = read_audio(audio, target, max_seconds=MAX_INPUT_SECONDS)
        return _check_length(wave, target, os.fspath(audio)), int(native_rate)
    if sample_rate is None:
        raise InvalidInputError("an in-memory audio array needs sample_rate=")
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    array = np.asarray(audio, dtype=np.float32)
    if array.size == 0:
        raise AudioReadError("the audio array is empty")
    if not np.isfinite(array).all():
        raise AudioReadError("the audio array holds NaN or Inf samples")
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or not 0 < sample_rate <= 768000
    ):
        raise InvalidInputError(
            f"sample_rate must be a positive integer in Hz, got {sample_rate!r}"
        )
    wave = to_mono_resampled(array, int(sample_rate), target, max_seconds=MAX_INPUT_SECONDS)
    return _check_length(wave, target, "audio array"), int(sample_rate)


def _check_length(wave: np.ndarray, rate: int, name: str) -> np.ndarray:
    if len(wave) < MIN_INPUT_SECONDS * rate:
        raise AudioReadError(
            f"{name}: too short ({len(wave)} samples); need at least {MIN_INPUT_SECONDS:g} s"
        )
    return wave


def fit_input(pipe: AudioLDM, wave: np.ndarray, duration: float | None) -> np.ndarray:
    """Crop/zero-pad to `duration` (default: the input's own length), within the model max."""
    from clapldm.pipeline import check_duration

    if duration is None:
        duration = len(wave) / pipe.sample_rate
        if duration > pipe.config.max_duration:
            raise InvalidInputError(
                f"input is {duration:.1f} s long, above this model's {pipe.config.max_duration:g} s; "
                "pass a shorter clip or duration="
            )
    duration = check_duration(duration, pipe.config.max_duration)
    samples = round(duration * pipe.sample_rate)
    if samples < 2:
        raise AudioReadError("the input audio is too short (fewer than 2 samples)")
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(wave))] = wave[:samples]
    return out


def encode_input(pipe: AudioLDM, wave: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """(samples,) -> scaled latent (1, C, T', F') and the gain undoing the normalisation."""
    tensor = torch.from_numpy(wave)[None].to(pipe.device)
    normalised, gain = pipe.prepare_wave(tensor)
    return pipe.encode_audio(normalised), gain


def audio_condition(
    pipe: AudioLDM,
    text_cond: torch.Tensor,
    prompts: list[str],
    audio_prompt: Any,
    sample_rate: int | None,
    weight: float,
) -> torch.Tensor:
    """Condition on a clip's CLAP audio embedding, mixed with non-empty text prompts."""
    from clapldm.pipeline import check_number

    weight = check_number("audio_prompt_weight", weight, 0.0, 1.0)
    if not pipe.has_audio_tower():
        raise InvalidInputError(
            "an audio prompt needs a CLAP with an audio tower; this model has none"
        )
    wave, _ = load_input(pipe, audio_prompt, sample_rate)
    embedded = pipe.embed_audio(torch.from_numpy(wave)[None], pipe.sample_rate)
    mixed = []
    for i, text in enumerate(prompts):
        if not text.strip():
            mixed.append(embedded[0])
        else:
            mixed.append(
                torch.nn.functional.normalize(
                    weight * embedded[0] + (1 - weight) * text_cond[i], dim=-1
                )
            )
    return torch.stack(mixed)


# ----------------------------------------------------------------------------- regions
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
        start, end = float(region[0]), float(region[1])
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


def time_mask(
    pipe: AudioLDM, regions: list[tuple[float, float]], shape: Sequence[int]
) -> torch.Tensor:
    """(1, 1, T', 1) latent mask: 0 on latent frames touching a region to generate, else 1."""
    seconds_per_frame = pipe.mel_config.hop_length * pipe.vae_factor / pipe.sample_rate
    mask = torch.ones(1, 1, shape[-2], 1)
    for start, end in regions:
        first = int(math.floor(start / seconds_per_frame))
        last = int(math.ceil(end / seconds_per_frame))
        mask[:, :, first:last] = 0.0
    return mask


def sample_weights(
    wave_len: int, sample_rate: int, regions: list[tuple[float, float]]
) -> np.ndarray:
    """(samples,) weight of the input: 1 in kept time, 0 inside regions, raised-cosine
    fades of CROSSFADE_SECONDS placed inside each generated region."""
    keep = np.ones(wave_len, dtype=np.float32)
    fade = int(CROSSFADE_SECONDS * sample_rate)
    for start, end in regions:
        a, b = int(round(start * sample_rate)), min(int(round(end * sample_rate)), wave_len)
        keep[a:b] = 0.0
        width = min(fade, (b - a) // 2)
        if width > 0:
            ramp = 0.5 * (1 + np.cos(np.linspace(0, np.pi, width, dtype=np.float32)))  # 1 -> 0
            if a > 0:
                keep[a : a + width] = ramp
            if b < wave_len:
                keep[b - width : b] = ramp[::-1]
    return keep


# -------------------------------------------------------------------------------- modes
def _masked_hooks(
    pipe: AudioLDM, x0: torch.Tensor, mask: torch.Tensor, generators: list[torch.Generator]
) -> tuple[Any, Any]:
    """before_model: kept region := x0 noised to level t; finish: kept region := x0."""
    mask = mask.to(pipe.device)
    shape = tuple(x0.shape[1:])

    def before_model(x: torch.Tensor, t: int) -> torch.Tensor:
        noised = q_sample(x0, pipe.noise_like(shape, generators), t, pipe.alphas_cumprod)
        return mask * noised + (1 - mask) * x

    def finish(x: torch.Tensor) -> torch.Tensor:
        return mask * x0 + (1 - mask) * x

    return before_model, finish


def transfer(
    pipe: AudioLDM,
    audio: Any,
    prompt: str | Sequence[str],
    *,
    strength: float = 0.5,
    duration: float | None = None,
    sample_rate: int | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    sampler: str | None = None,
    eta: float = 0.0,
    seed: int | Sequence[int] | None = None,
    negative_prompt: str | Sequence[str] | None = None,
    candidates: int = 1,
    progress: Any = None,
) -> GenerationOutput:
    """Text-guided style transfer. `strength` in (0, 1]: the reverse process runs the last
    int(strength * steps) timesteps of the sampler's grid (the reference's t_enc) from the
    input latent noised to the first of them; strength 1 starts from pure noise (= generate).
    """
    from clapldm.pipeline import check_prompts

    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not 0 < strength <= 1
    ):
        raise InvalidInputError(f"strength must be in (0, 1], got {strength!r}")
    request = pipe._common(duration or 1.0, steps, guidance_scale, sampler, eta, candidates)
    prompts = check_prompts(prompt)
    wave, _ = load_input(pipe, audio, sample_rate)
    wave = fit_input(pipe, wave, duration)
    request["duration"] = len(wave) / pipe.sample_rate
    x0, _ = encode_input(pipe, wave)
    grid = pipe.timesteps(request["sampler"], request["steps"])
    t_enc = int(strength * request["steps"])
    run = grid[len(grid) - t_enc :] if t_enc else []

    def start(
        noise: torch.Tensor, generators: list[torch.Generator]
    ) -> tuple[torch.Tensor, list[int]]:
        if t_enc == len(grid):
            return noise, run
        if not run:
            return x0.expand_as(noise).clone(), []
        return q_sample(x0.expand_as(noise), noise, run[0], pipe.alphas_cumprod), run

    return pipe.run(
        prompts,
        pipe.embed_text(prompts),
        negative_prompt,
        seed,
        len(wave),
        request,
        start=start,
        latents=None,
        mode="transfer",
        progress=progress,
        extra_settings={"strength": float(strength), "start_timestep": run[0] if run else None},
    )


def inpaint(
    pipe: AudioLDM,
    audio: Any,
    prompt: str | Sequence[str],
    *,
    regions: Sequence[Sequence[float]],
    sample_rate: int | None = None,
    duration: float | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    sampler: str | None = None,
    eta: float = 0.0,
    seed: int | Sequence[int] | None = None,
    negative_prompt: str | Sequence[str] | None = None,
    candidates: int = 1,
    paste_back: bool = True,
    progress: Any = None,
) -> GenerationOutput:
    """Fill `regions` [(start_s, end_s), ...] of the clip guided by `prompt`, keeping the rest."""
    from clapldm.pipeline import check_prompts

    request = pipe._common(duration or 1.0, steps, guidance_scale, sampler, eta, candidates)
    prompts = check_prompts(prompt)
    wave, _ = load_input(pipe, audio, sample_rate)
    wave = fit_input(pipe, wave, duration)
    length = len(wave) / pipe.sample_rate
    request["duration"] = length
    checked = check_regions(regions, length)
    x0, gain = encode_input(pipe, wave)
    mask = time_mask(pipe, checked, x0.shape)
    weights = sample_weights(len(wave), pipe.sample_rate, checked)
    return _masked_run(
        pipe,
        prompts,
        wave,
        x0,
        gain,
        mask,
        weights,
        None,
        negative_prompt,
        seed,
        request,
        "inpaint",
        paste_back,
        progress,
        {"regions": [list(r) for r in checked]},
    )


def _masked_run(
    pipe: AudioLDM,
    prompts: list[str],
    wave: np.ndarray,
    x0: torch.Tensor,
    gain: torch.Tensor,
    mask: torch.Tensor,
    weights: np.ndarray | None,
    crossover: Any,
    negative_prompt: Any,
    seed: Any,
    request: dict[str, Any],
    mode: str,
    paste_back: bool,
    progress: Any,
    extra: dict[str, Any],
) -> GenerationOutput:
    hooks: dict[str, Any] = {}

    def before(x: torch.Tensor, t: int) -> torch.Tensor:
        return hooks["before"](x, t)

    def start_with_hooks(
        noise: torch.Tensor, generators: list[torch.Generator]
    ) -> tuple[torch.Tensor, list[int]]:
        full_mask = mask.expand(noise.shape[0], noise.shape[1], noise.shape[2], noise.shape[3])
        before_model, finish = _masked_hooks(pipe, x0.expand_as(noise), full_mask, generators)
        hooks["before"], hooks["finish"] = before_model, finish
        return noise, pipe.timesteps(request["sampler"], request["steps"])

    def finish(x: torch.Tensor) -> torch.Tensor:
        return hooks["finish"](x) if paste_back else x

    def postprocess(audio: np.ndarray, _: list[int]) -> np.ndarray:
        audio = audio * float(gain[0, 0])  # back to the input's level
        if not paste_back:
            return audio
        if crossover is not None:
            return crossover(audio)
        assert weights is not None
        return weights[None] * wave[None] + (1 - weights[None]) * audio

    return pipe.run(
        prompts,
        pipe.embed_text(prompts),
        negative_prompt,
        seed,
        len(wave),
        request,
        start=start_with_hooks,
        latents=None,
        mode=mode,
        before_model=before,
        finish=finish,
        postprocess=postprocess,
        progress=progress,
        extra_settings=extra,
    )


CROSSOVER_WIDTH_HZ = 400.0  # super-resolution crossover: transition band centred on the cutoff
CROSSOVER_ATTENUATION_DB = 80.0  # stop-band rejection of that filter


def lowpass_taps(
    sample_rate: int, cutoff_hz: float, width_hz: float = CROSSOVER_WIDTH_HZ
) -> np.ndarray:
    """Odd-length linear-phase FIR low-pass (Kaiser-windowed sinc, -6 dB at `cutoff_hz`).

    Kaiser's design formulas (Oppenheim & Schafer, Discrete-Time Signal Processing, 7.6):
    `width_hz` is the full transition band, narrowed to fit between 0 Hz and Nyquist. A brick-wall
    filter is not used on purpose: its impulse response is a sinc at the cutoff that decays as
    1/t across the whole clip, so anything the filter removes near the cutoff comes back as a
    steady tone at the cutoff, even where the input is silent. These taps span ~13 ms at the
    default width (201 at 16 kHz), so ringing stays next to the sound that causes it.
    """
    nyquist = sample_rate / 2
    width = min(width_hz, 2 * cutoff_hz, 2 * (nyquist - cutoff_hz))
    attenuation = CROSSOVER_ATTENUATION_DB
    beta = 0.1102 * (attenuation - 8.7)
    taps = int(math.ceil((attenuation - 8) / (2.285 * 2 * math.pi * width / sample_rate)))
    taps += 1 - taps % 2  # odd: a whole-sample delay, removed below, so the filter is zero-phase
    n = np.arange(taps) - (taps - 1) / 2
    ideal = 2 * cutoff_hz / sample_rate * np.sinc(2 * cutoff_hz / sample_rate * n)
    return ideal * np.kaiser(taps, beta)


def lowpass(wave: np.ndarray, sample_rate: int, cutoff_hz: float) -> np.ndarray:
    """Zero-phase FIR low-pass of (..., samples) with `lowpass_taps`; the signal is zero-padded
    (a linear, not circular, convolution), so `wave - lowpass(wave)` is its exact high-pass."""
    taps = lowpass_taps(sample_rate, cutoff_hz)
    samples, delay = wave.shape[-1], (len(taps) - 1) // 2
    size = samples + len(taps) - 1
    spectrum = np.fft.rfft(wave.astype(np.float64), n=size, axis=-1) * np.fft.rfft(taps, n=size)
    filtered = np.fft.irfft(spectrum, n=size, axis=-1)[..., delay : delay + samples]
    return filtered.astype(np.float32)


def super_resolve(
    pipe: AudioLDM,
    audio: Any,
    prompt: str | Sequence[str] = "",
    *,
    cutoff_hz: float = 4000.0,
    sample_rate: int | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    sampler: str | None = None,
    eta: float = 0.0,
    seed: int | Sequence[int] | None = None,
    negative_prompt: str | Sequence[str] | None = None,
    candidates: int = 1,
    paste_back: bool = True,
    progress: Any = None,
) -> GenerationOutput:
    """Regenerate the band above `cutoff_hz` (clamped to the input's own Nyquist), keep the
    band below: the output is low-pass(input) + high-pass(generated)."""
    from clapldm.pipeline import check_prompts

    nyquist = pipe.sample_rate / 2
    if (
        isinstance(cutoff_hz, bool)
        or not isinstance(cutoff_hz, (int, float))
        or not math.isfinite(cutoff_hz)
    ):
        raise InvalidInputError(f"cutoff must be a number of Hz, got {cutoff_hz!r}")
    if not 0 < cutoff_hz < nyquist:
        raise InvalidInputError(
            f"cutoff {cutoff_hz:g} Hz must be between 0 and the model's Nyquist ({nyquist:g} Hz)"
        )
    request = pipe._common(1.0, steps, guidance_scale, sampler, eta, candidates)
    prompts = check_prompts(prompt, allow_empty=True)
    wave, native_rate = load_input(pipe, audio, sample_rate)
    cutoff = float(min(cutoff_hz, native_rate / 2))
    wave = fit_input(pipe, wave, None)
    request["duration"] = len(wave) / pipe.sample_rate
    low = lowpass(wave, pipe.sample_rate, cutoff)
    x0, gain = encode_input(pipe, low)
    kept_bins = mel_bins_below(pipe, cutoff) // pipe.vae_factor
    mask = torch.zeros(1, 1, 1, x0.shape[-1])
    mask[..., :kept_bins] = 1.0

    def crossover(generated: np.ndarray) -> np.ndarray:
        return low[None] + (generated - lowpass(generated, pipe.sample_rate, cutoff))

    return _masked_run(
        pipe,
        prompts,
        low,
        x0,
        gain,
        mask,
        None,
        crossover,
        negative_prompt,
        seed,
        request,
        "superres",
        paste_back,
        progress,
        {"cutoff_hz": cutoff, "kept_latent_bins": kept_bins},
    )


def mel_bins_below(pipe: AudioLDM, cutoff_hz: float) -> int:
    """Number of mel bins whose filter lies entirely below `cutoff_hz`."""
    from clapldm.audio.mel import hz_to_mel, mel_to_hz

    cfg = pipe.mel_config
    edges = mel_to_hz(
        np.linspace(
            hz_to_mel(np.array([cfg.f_min]))[0], hz_to_mel(np.array([cfg.f_max]))[0], cfg.n_mels + 2
        )
    )
    upper = edges[2:]  # bin k spans edges[k] .. edges[k+2]
    return int((upper <= cutoff_hz).sum())


def extend(
    pipe: AudioLDM,
    audio: Any,
    prompt: str | Sequence[str],
    *,
    total_duration: float,
    window: float | None = None,
    overlap: float | None = None,
    sample_rate: int | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> GenerationOutput:
    """Grow a clip to `total_duration` seconds by windowed outpainting: each window keeps
    its first `overlap` seconds (the end of what exists) and generates the rest."""
    from clapldm.pipeline import GenerationOutput, check_prompts, resolve_seeds

    prompts = check_prompts(prompt)
    if len(prompts) != 1:
        raise InvalidInputError("extend takes one prompt")
    if (
        isinstance(total_duration, bool)
        or not isinstance(total_duration, (int, float))
        or not math.isfinite(total_duration)
    ):
        raise InvalidInputError(
            f"total duration must be a number of seconds, got {total_duration!r}"
        )
    window = min(pipe.config.max_duration, 10.0) if window is None else float(window)
    overlap = window / 2 if overlap is None else float(overlap)
    if not 0 < overlap < window <= pipe.config.max_duration:
        raise InvalidInputError(
            f"need 0 < overlap ({overlap:g}) < window ({window:g}) <= {pipe.config.max_duration:g} s"
        )
    wave, _ = load_input(pipe, audio, sample_rate)
    rate = pipe.sample_rate
    total = round(total_duration * rate)
    if total <= len(wave):
        raise InvalidInputError(
            f"total duration {total_duration:g} s must exceed the input's {len(wave) / rate:.2f} s"
        )
    if total_duration > 3600:
        raise InvalidInputError("total duration is limited to one hour")
    base_seed = resolve_seeds(seed, 1)[0]
    result = wave.astype(np.float32)
    last: GenerationOutput | None = None
    index = 0
    while len(result) < total:
        context = result[-int(overlap * rate) :] if len(result) > overlap * rate else result
        new = min(round(window * rate) - len(context), total - len(result))
        segment = np.concatenate([context, np.zeros(new, dtype=np.float32)])
        start_s = len(context) / rate
        last = inpaint(
            pipe,
            segment,
            prompts,
            regions=[(start_s, len(segment) / rate)],
            sample_rate=rate,
            seed=base_seed + index,
            **kwargs,
        )
        result = np.concatenate([result, last.audio[0][len(context) :]])
        index += 1
    assert last is not None
    settings = {
        **last.settings,
        "mode": "extend",
        "total_duration": float(total_duration),
        "window": window,
        "overlap": overlap,
        "windows": index,
        "regions": None,
    }
    return GenerationOutput(
        audio=result[None, :total].astype(np.float32),
        sample_rate=rate,
        scores=last.scores,
        seeds=[base_seed],
        prompts=prompts,
        settings=settings,
    )
