"""AudioLDM: the pipeline that composes CLAP, VAE, UNet and vocoder by name.

Text -> CLAP text embedding -> reverse diffusion on VAE latents (classifier-free guidance)
-> VAE decoder -> log-mel -> HiFi-GAN -> waveform. Every mode builds a checked
`SamplingRequest` (request.py) and runs through one entry point, `AudioLDM.sample`:
generation from noise, and the editing modes (transfer, inpaint, super-resolve, extend),
which only add what they know of the output and where (an initial latent, a latent mask
and the input samples to paste back, built by `editing.py`). Every generation parameter
is passed per call.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapldm import checkpoints
from clapldm.audio.mel import MelFrontEnd, normalize_waveform
from clapldm.checkpoints.native import save_native
from clapldm.components import Components, check_components
from clapldm.config import MelConfig, PipelineConfig, SchedulerConfig
from clapldm.diffusion import schedule
from clapldm.diffusion.guidance import guided_eps_model
from clapldm.diffusion.samplers import SAMPLERS, Hook
from clapldm.editing import (
    InputClip,
    PasteBack,
    band_mask,
    extend_segment,
    fit_input,
    load_input,
    lowpass,
    mel_bins_below,
    sample_weights,
    strength_timesteps,
    time_mask,
)
from clapldm.errors import InvalidInputError
from clapldm.models.clap_base import TextAudioEncoder
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL
from clapldm.precision import WeightPrecision
from clapldm.request import (
    GenerationOutput,
    RequestDefaults,
    SamplingRequest,
    candidate_seed,
    check_device,
)
from clapldm.version import __version__

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LoraRef:
    """A LoRA adapter a pipeline holds: its name, resolved folder, scale and the sha256 of
    its weights file (what a recipe records to load it again)."""

    name: str
    path: str
    scale: float
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "scale": self.scale, "sha256": self.sha256}


MAX_LORA_SCALE = 10.0


def check_lora_scale(scale: float) -> float:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise InvalidInputError(f"LoRA scale must be a number, got {scale!r}")
    if not -MAX_LORA_SCALE <= scale <= MAX_LORA_SCALE:
        raise InvalidInputError(
            f"LoRA scale must be in [{-MAX_LORA_SCALE:g}, {MAX_LORA_SCALE:g}], got {scale!r}"
        )
    return float(scale)


def recorded_source(out: GenerationOutput, key: str, audio: Any) -> GenerationOutput:
    """`out` with the file its audio came from (when it came from a file) in its recipe
    settings under `key` ("input" or "audio_prompt"), for `recipe` to hash."""
    if isinstance(audio, (str, os.PathLike)):
        out.settings[key] = os.fspath(audio)
    return out


class AudioLDM:
    """Text-to-audio and text-guided editing with a CLAP-conditioned latent diffusion model."""

    def __init__(
        self,
        clap: TextAudioEncoder,
        vae: AutoencoderKL,
        unet: AudioLDMUNet,
        vocoder: HifiGan,
        mel_config: MelConfig,
        scheduler_config: SchedulerConfig | None = None,
        pipeline_config: PipelineConfig | None = None,
        *,
        device: str | torch.device = "cpu",
        name: str = "",
    ) -> None:
        self.clap = clap
        self.vae = vae.eval()
        self.unet = unet.eval()
        self.vocoder = vocoder.eval()
        self.mel_config = mel_config
        self.scheduler_config = scheduler_config or SchedulerConfig()
        self.config = pipeline_config or PipelineConfig()
        self.name = name or self.config.name
        self.mel = MelFrontEnd(mel_config)
        self.alphas_cumprod = schedule.alphas_cumprod(self.scheduler_config)
        self._uncond_cache: dict[str, torch.Tensor] = {}
        self.source = ""  # what the user passed to from_pretrained ("" = bundled / in memory)
        self._weights = WeightPrecision()
        self.loras: dict[str, LoraRef] = {}  # loaded LoRA adapters (load_lora), by name
        self.merged_loras: list[LoraRef] = []  # adapters baked into the weights (merge_lora)
        check_components(self.components())
        self.device = torch.device("cpu")
        self.to(device)

    # ----------------------------------------------------------------------- assembly
    @classmethod
    def from_pretrained(
        cls, model: str | os.PathLike[str] | None = None, device: str = "cpu", **kwargs: Any
    ) -> AudioLDM:
        """Load a native folder, a diffusers AudioLDM folder, an original `.ckpt`, or a hub id.

        With no `model`, the bundled clapldm-mini is used. `kwargs` go to the loader
        (`checkpoints.load_components`)."""
        device_checked = check_device(device)  # before the (slow) load
        pipe = cls.from_components(checkpoints.load_components(model, **kwargs), device_checked)
        pipe.source = "" if model is None else os.fspath(model)
        return pipe

    @classmethod
    def from_components(cls, parts: Components, device: str | torch.device = "cpu") -> AudioLDM:
        return cls(
            parts.clap,
            parts.vae,
            parts.unet,
            parts.vocoder,
            parts.mel_config,
            parts.scheduler_config,
            parts.config,
            device=device,
            name=parts.name,
        )

    def components(self) -> Components:
        """The parts of this pipeline (shared, not copied)."""
        return Components(
            self.clap,
            self.vae,
            self.unet,
            self.vocoder,
            self.mel_config,
            self.scheduler_config,
            self.config.replace(name=self.name),
        )

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        """Write a native folder (checkpoints/native.py) of the exact fp32 weights."""
        if self._weights.fp32_dropped:
            raise InvalidInputError(
                "cannot save: this pipeline's fp32 weights were freed (bf16, keep_fp32=False)"
            )
        with self._weights.scoped("fp32", self._autocast_modules()):
            save_native(self.components(), Path(folder))

    def to(self, device: str | torch.device) -> AudioLDM:
        device = check_device(device)
        # Move the fp32 originals (when kept), then cast again.
        precision = None if self._weights.fp32_dropped else "fp32"
        with self._weights.scoped(precision, self._autocast_modules()):
            for module in (self.vae, self.unet, self.vocoder, self.mel):
                module.to(device)
            if isinstance(self.clap, torch.nn.Module):
                self.clap.to(device)
            self.device = device
            self._uncond_cache.clear()
        return self

    @property
    def precision(self) -> str:
        """ "fp32" or "bf16"; see `set_precision`."""
        return self._weights.precision

    def set_precision(self, precision: str, *, keep_fp32: bool = True) -> AudioLDM:
        """ "fp32" (exact, default) or "bf16": UNet, VAE decoder and vocoder run under bf16
        autocast with their conv / linear weights cast to bf16 once (not at every call);
        norms, the sampler state, the VAE encoder and the CLAP stay fp32. Opt-in and
        approximate. Switching back to fp32 restores the exact fp32 weights, which are kept
        for that; `keep_fp32=False` frees them instead (less memory; then the pipeline
        stays bf16 and cannot be saved). See precision.py."""
        self._weights.set(precision, self._autocast_modules(), keep_fp32=keep_fp32)
        return self

    def _autocast_modules(self) -> list[torch.nn.Module]:
        """The modules that only ever run inside `autocast()`."""
        return [self.unet, self.vae.post_quant_conv, self.vae.decoder, self.vocoder]

    def autocast(self) -> Any:
        return self._weights.autocast(self.device.type)

    # ---------------------------------------------------------------------- adapters
    def load_lora(
        self, adapter: str | os.PathLike[str], scale: float = 1.0, *, name: str | None = None
    ) -> AudioLDM:
        """Add a LoRA adapter folder (`clapldm export` of a LoRA run) at `scale`: 1 = as
        trained, 0 = off, between = part of the learnt change. Several adapters mix, each
        at its own scale. `name` (default: the folder's name) is how `set_lora_scale` and
        `unload_lora` refer to it. An adapter trained on another base model is refused
        (`ModelLoadError` naming both). Returns the pipeline."""
        from clapldm import adapters  # peft takes seconds to import: only adapter users pay

        folder = Path(adapter).expanduser().resolve()
        scale = check_lora_scale(scale)
        loaded = adapters.read_adapter(folder)
        name = adapters.check_adapter_name(name or folder.name)
        if name in self.loras:
            raise InvalidInputError(f"an adapter named {name!r} is loaded already")
        if self._weights.fp32_dropped:
            raise InvalidInputError(
                "load adapters before switching to bf16 with keep_fp32=False (the fp32 "
                "weights they are checked against were freed)"
            )
        with self._weights.scoped("fp32", self._autocast_modules()):
            adapters.attach(self.unet, loaded, name)
        self.loras[name] = LoraRef(name, str(folder), scale, adapters.weights_sha256(folder))
        self._activate_loras()
        return self

    def lora_scales(self) -> dict[str, float]:
        """Name -> scale of every loaded adapter."""
        return {name: ref.scale for name, ref in self.loras.items()}

    def set_lora_scale(self, name: str, scale: float) -> AudioLDM:
        return self.set_lora_scales({**self.lora_scales(), name: scale})

    def set_lora_scales(self, scales: Mapping[str, float]) -> AudioLDM:
        """Set every loaded adapter's scale at once: those not in `scales` go to 0 (off)."""
        for name in scales:
            if name not in self.loras:
                raise InvalidInputError(f"no adapter named {name!r} is loaded")
        checked = {name: check_lora_scale(scale) for name, scale in scales.items()}
        self.loras = {
            name: replace(ref, scale=checked.get(name, 0.0)) for name, ref in self.loras.items()
        }
        self._activate_loras()
        return self

    def _activate_loras(self) -> None:
        """Adapters at scale 0 are switched off (not run at all), the rest run at theirs."""
        from clapldm import adapters

        active = {name: scale for name, scale in self.lora_scales().items() if scale != 0.0}
        adapters.activate(self.unet, active)

    def unload_lora(self, name: str | None = None) -> AudioLDM:
        """Remove adapter `name` (None: all of them); the base weights are untouched."""
        from clapldm import adapters

        if name is not None and name not in self.loras:
            raise InvalidInputError(f"no adapter named {name!r} is loaded")
        adapters.remove_adapter(self.unet, name)
        self.loras = {} if name is None else {k: v for k, v in self.loras.items() if k != name}
        if self.loras:
            self._activate_loras()
        return self

    def merge_lora(self) -> AudioLDM:
        """Bake the loaded adapters, at their scales, into the UNet weights (exact fp32) and
        remove them: no per-step cost any more, and `save_pretrained` writes a plain model.
        The weights (and so the model hash) change; `merged_loras` remembers what went in."""
        from clapldm import adapters

        if not self.loras:
            raise InvalidInputError("no adapter is loaded; nothing to merge")
        if self._weights.fp32_dropped:
            raise InvalidInputError("cannot merge: this pipeline's fp32 weights were freed")
        with self._weights.scoped("fp32", self._autocast_modules()):
            adapters.merge_active(self.unet)
        self.merged_loras = [*self.merged_loras, *(r for r in self.loras.values() if r.scale)]
        self.loras = {}
        self.__dict__.pop("_model_hash", None)  # the weights changed: recipe.model_hash anew
        return self

    # --------------------------------------------------------------------- geometry
    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.config.ch_mult) - 1)

    @property
    def seconds_per_latent_frame(self) -> float:
        return self.mel_config.hop_length * self.vae_factor / self.sample_rate

    def latent_frames(self, num_samples: int) -> int:
        """Latent time length for `num_samples`, padded to what the UNet needs."""
        mel_frames = math.ceil(num_samples / self.mel_config.hop_length)
        frames = math.ceil(mel_frames / self.vae_factor)
        multiple = self.unet.config.latent_multiple
        return math.ceil(frames / multiple) * multiple

    def latent_shape(self, num_samples: int) -> tuple[int, int, int]:
        return (
            self.unet.config.in_channels,
            self.latent_frames(num_samples),
            self.mel_config.n_mels // self.vae_factor,
        )

    # ------------------------------------------------------------------- conditioning
    @torch.no_grad()
    def embed_text(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, D) L2-normalised CLAP text embeddings; "" (the CFG default) is cached."""
        texts = list(texts)
        if all(t == texts[0] for t in texts) and texts[0] == "":
            if "" not in self._uncond_cache:
                self._uncond_cache[""] = self.clap.embed_text([""]).to(self.device).float()
            return self._uncond_cache[""].expand(len(texts), -1)
        return self.clap.embed_text(texts).to(self.device).float()

    @torch.no_grad()
    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        return self.clap.embed_audio(wave.to(self.device), sample_rate).to(self.device).float()

    def has_audio_tower(self) -> bool:
        return bool(getattr(self.clap, "has_audio_tower", True))

    def condition(self, request: SamplingRequest, audio_prompt: InputClip | None) -> torch.Tensor:
        """(B, D) conditioning of the request's prompts; with an audio prompt, its CLAP
        audio embedding (alone for an empty prompt, else mixed with the text's by
        `request.audio_prompt_weight` and re-normalised)."""
        text = self.embed_text(request.prompts)
        if audio_prompt is None:
            return text
        weight = request.audio_prompt_weight
        if weight is None:
            raise InvalidInputError("an audio prompt was given to a request without one")
        embedded = self.embed_audio(torch.from_numpy(audio_prompt.wave)[None], self.sample_rate)
        mixed = []
        for i, prompt in enumerate(request.prompts):
            if not prompt.strip():
                mixed.append(embedded[0])
            else:
                mixed.append(
                    torch.nn.functional.normalize(
                        weight * embedded[0] + (1 - weight) * text[i], dim=-1
                    )
                )
        return torch.stack(mixed)

    # ------------------------------------------------------------------------ latents
    def timesteps(self, sampler: str, steps: int) -> list[int]:
        total = self.scheduler_config.num_train_timesteps
        if sampler == "ddim":
            return schedule.ddim_timesteps(steps, total)
        return schedule.linspace_timesteps(steps, total)

    def noise_like(
        self, shape: Sequence[int], generators: Sequence[torch.Generator]
    ) -> torch.Tensor:
        """(len(generators), *shape) standard normal, drawn on the CPU item by item."""
        items = [torch.randn(tuple(shape), generator=g, dtype=torch.float32) for g in generators]
        return torch.stack(items).to(self.device)

    @torch.no_grad()
    def denoise(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        uncond: torch.Tensor,
        *,
        timesteps: Sequence[int],
        sampler: str,
        guidance_scale: float,
        eta: float,
        generators: Sequence[torch.Generator],
        before_model: Hook | None = None,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Run the reverse process from `x` (at timesteps[0]) to a clean latent."""

        def unet(x: torch.Tensor, t: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
            with self.autocast():
                return self.unet(x, t, emb).float()

        model = guided_eps_model(unet, cond, uncond, guidance_scale)
        shape = tuple(x.shape[1:])

        def noise(_: torch.Tensor) -> torch.Tensor:
            return self.noise_like(shape, generators)

        kwargs: dict[str, Any] = {
            "noise": noise,
            "before_model": before_model,
            "callback": progress,
        }
        if sampler == "ddim":
            kwargs["eta"] = eta
        return SAMPLERS[sampler](model, x, timesteps, self.alphas_cumprod, **kwargs)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, num_samples: int) -> np.ndarray:
        """(B, C, T', F') scaled latents -> (B, num_samples) float32 waveforms.

        On the CPU the VAE decoder and vocoder run one item at a time: they are
        compute-bound there, and batching their large activations only adds cache misses
        (measured slower per clip). Other devices decode the whole batch at once."""
        chunk = 1 if self.device.type == "cpu" else latents.shape[0]
        waves = []
        with self.autocast():
            for part in latents.split(chunk):
                mel = self.vae.decode(part / self.vae.config.scale_factor)
                waves.append(self.vocoder(mel[:, 0]).float())
        wave = torch.cat(waves)
        if wave.shape[-1] < num_samples:
            wave = torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))
        return wave[:, :num_samples].float().cpu().numpy()

    @torch.no_grad()
    def encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, samples) at the model rate -> (B, C, T', F') scaled latents (posterior mode).

        The waveform is normalised as the reference does (when the mel config says so)
        and the mel is padded with its log floor to the latent length the UNet needs.
        """
        wave = wave.to(self.device).float()
        mel = self.mel(wave, normalize=False)  # callers normalise via prepare_wave
        frames = self.latent_frames(wave.shape[-1]) * self.vae_factor
        if mel.shape[1] < frames:
            floor = math.log(self.mel_config.log_clamp)
            mel = torch.nn.functional.pad(mel, (0, 0, 0, frames - mel.shape[1]), value=floor)
        mel = mel[:, :frames]
        posterior = self.vae.encode(mel[:, None])
        return posterior.mode() * self.vae.config.scale_factor

    def prepare_wave(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Reference normalisation of (B, samples) and the gain that undoes it: (wave, gain)."""
        if not self.mel_config.normalize_waveform:
            return wave, torch.ones(wave.shape[0], 1, device=wave.device)
        normalised = normalize_waveform(wave)
        peak = (wave - wave.mean(dim=-1, keepdim=True)).abs().amax(dim=-1, keepdim=True)
        return normalised, (peak + 1e-8) / 0.5

    def encode_clip(self, wave: np.ndarray) -> tuple[torch.Tensor, float]:
        """(samples,) at the model rate -> scaled latent (1, C, T', F') and the gain that
        brings decoded audio back to the clip's level."""
        normalised, gain = self.prepare_wave(torch.from_numpy(wave)[None].to(self.device))
        return self.encode_audio(normalised), float(gain[0, 0])

    # ------------------------------------------------------------------- the sampler
    def request_defaults(self) -> RequestDefaults:
        """What this model fills into a request and accepts."""
        return RequestDefaults(
            sample_rate=self.sample_rate,
            max_duration=self.config.max_duration,
            sampler=self.config.default_sampler,
            steps=self.config.default_steps,
            guidance_scale=self.config.default_guidance_scale,
            max_steps=self.scheduler_config.num_train_timesteps,
            has_audio_tower=self.has_audio_tower(),
        )

    def request(self, **params: Any) -> SamplingRequest:
        """`SamplingRequest.create` with this model's defaults."""
        return SamplingRequest.create(self.request_defaults(), **params)

    @torch.no_grad()
    def sample(
        self,
        request: SamplingRequest,
        cond: torch.Tensor,
        *,
        init_latent: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        paste: PasteBack | None = None,
        latents: torch.Tensor | None = None,
        progress: Progress | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> GenerationOutput:
        """Sample `request.candidates` clips per prompt, decode, keep the best by CLAP.

        `cond` (len(request.prompts), D) conditions prompt i. What is known of the output,
        and where: `init_latent` (1, C, T', F') is the start point, noised to the level
        `request.strength` selects (None: pure noise, the whole grid); `mask`
        (broadcastable to it; 1 keep, 0 generate) keeps it throughout, re-imposed at each
        step's noise level and, with `request.paste_back`, after the last step; `paste`
        puts input samples back into the decoded audio. `latents` (len(prompts), C, T',
        F') replace the start noise (then candidates must be 1). `settings` are added to
        the recipe. Candidate k of prompt i has its own CPU generator, seeded with
        `candidate_seed(seeds[i], k)` (seeds[i] itself for k = 0); it draws that clip's start
        noise and every later noise (eta > 0, the noised known region), so candidates=1 gets
        the same noise as the first of candidates=n, for every sampler and eta (its audio
        agrees to float rounding: the UNet runs the candidates as one batch).
        """
        per_prompt = request.candidates
        index = [i for i in range(len(request.prompts)) for _ in range(per_prompt)]
        num_samples = round(request.duration * self.sample_rate)
        with self._weights.scoped(request.precision, self._autocast_modules()):
            item_generators = [
                torch.Generator("cpu").manual_seed(candidate_seed(seed, k))
                for seed in request.seeds
                for k in range(per_prompt)
            ]
            noise = self._start_noise(item_generators, per_prompt, num_samples, latents)
            x, timesteps = self._start_point(request, noise, init_latent)
            known = None
            if init_latent is not None and mask is not None:
                known = (init_latent.expand_as(x), mask.expand(x.shape).to(self.device))
            uncond = self.embed_text(request.negative_prompts)[index]
            if timesteps:
                x = self.denoise(
                    x,
                    cond[index],
                    uncond,
                    timesteps=timesteps,
                    sampler=request.sampler,
                    guidance_scale=request.guidance_scale,
                    eta=request.eta,
                    generators=item_generators,
                    before_model=self._keep_known(known, item_generators),
                    progress=progress,
                )
            if known is not None and request.paste_back:
                x = known[1] * known[0] + (1 - known[1]) * x
            audio = self.decode_latents(x, num_samples)
        if paste is not None:
            audio = paste.apply(audio, request.paste_back)
        return self._best(request, audio, cond[index], settings or {})

    def _start_noise(
        self,
        generators: list[torch.Generator],
        per_prompt: int,
        num_samples: int,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        """(len(generators), C, T', F'): each clip's start noise, the first draw of its own
        generator. Given `latents` (one per prompt, with per_prompt 1) replace it (after the
        draws, so the generators' later noise is the same either way)."""
        shape = self.latent_shape(num_samples)
        noise = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(self.device)
        if latents is None:
            return noise
        if per_prompt != 1:
            raise InvalidInputError("latents cannot be combined with candidates > 1")
        expected = (len(generators), *shape)
        if tuple(latents.shape) != expected:
            raise InvalidInputError(
                f"latents must have shape {expected}, got {tuple(latents.shape)}"
            )
        return latents.to(self.device, torch.float32)

    def _start_point(
        self, request: SamplingRequest, noise: torch.Tensor, init_latent: torch.Tensor | None
    ) -> tuple[torch.Tensor, list[int]]:
        """The first latent and the timesteps to run from it."""
        grid = self.timesteps(request.sampler, request.steps)
        if init_latent is None or request.strength is None:
            return noise, grid
        run = strength_timesteps(grid, request.strength, request.steps)
        if int(request.strength * request.steps) == len(grid):
            return noise, run
        if not run:
            return init_latent.expand_as(noise).clone(), []
        start = schedule.q_sample(init_latent.expand_as(noise), noise, run[0], self.alphas_cumprod)
        return start, run

    def _keep_known(
        self,
        known: tuple[torch.Tensor, torch.Tensor] | None,
        generators: list[torch.Generator],
    ) -> Hook | None:
        """Before each model call, the kept region := the known latent noised to level t."""
        if known is None:
            return None
        x0, mask = known
        shape = tuple(x0.shape[1:])

        def before_model(x: torch.Tensor, t: int) -> torch.Tensor:
            noised = schedule.q_sample(
                x0, self.noise_like(shape, generators), t, self.alphas_cumprod
            )
            return mask * noised + (1 - mask) * x

        return before_model

    def _best(
        self,
        request: SamplingRequest,
        audio: np.ndarray,
        cond: torch.Tensor,
        settings: Mapping[str, Any],
    ) -> GenerationOutput:
        """Keep each prompt's candidate that CLAP ranks best; attach the recipe."""
        per_prompt = request.candidates
        scores = self._scores(audio, cond)
        keep = [
            i * per_prompt
            + int(np.argmax(np.nan_to_num(scores[i * per_prompt : (i + 1) * per_prompt], nan=-2.0)))
            for i in range(len(request.prompts))
        ]
        return GenerationOutput(
            audio=np.ascontiguousarray(audio[keep], dtype=np.float32),
            sample_rate=self.sample_rate,
            scores=scores[keep],
            seeds=list(request.seeds),
            prompts=list(request.prompts),
            settings={
                "mode": request.mode,
                "model": self.name,
                **request.settings(),
                "precision": request.precision or self.precision,
                "clapldm_version": __version__,
                **settings,
            },
        )

    def _scores(self, audio: np.ndarray, cond: torch.Tensor) -> np.ndarray:
        if not self.has_audio_tower():
            return np.full(audio.shape[0], np.nan, dtype=np.float32)
        embedded = self.embed_audio(torch.from_numpy(audio), self.sample_rate)
        return (embedded * cond).sum(-1).float().cpu().numpy()

    # ------------------------------------------------------------------ public modes
    def run(
        self,
        request: SamplingRequest,
        clip: InputClip | None = None,
        *,
        latents: torch.Tensor | None = None,
        progress: Progress | None = None,
    ) -> GenerationOutput:
        """Run a checked request: `clip` is the input of an edit mode, or the audio prompt
        of a generate request made with `audio_prompt_weight`. (The CLI and the server
        build the request, then call this.)"""
        if request.mode == "generate":
            if (clip is None) != (request.audio_prompt_weight is None):
                raise InvalidInputError("audio_prompt_weight goes with an audio prompt")
            cond = self.condition(request, clip)
            weight = request.audio_prompt_weight
            settings = {} if weight is None else {"audio_prompt_weight": weight}
            return self.sample(request, cond, latents=latents, progress=progress, settings=settings)
        if clip is None:
            raise InvalidInputError(f"{request.mode} needs an input clip")
        if latents is not None:
            raise InvalidInputError("latents apply to generate only")
        runners = {
            "transfer": self._run_transfer,
            "inpaint": self._run_inpaint,
            "superres": self._run_superres,
            "extend": self._run_extend,
        }
        return runners[request.mode](request, clip, progress)

    def generate(
        self,
        prompt: str | Sequence[str] | None = None,
        duration: float = 5.0,
        steps: int | None = None,
        guidance_scale: float | None = None,
        sampler: str | None = None,
        eta: float = 0.0,
        seed: int | Sequence[int] | None = None,
        negative_prompt: str | Sequence[str] | None = None,
        candidates: int = 1,
        latents: torch.Tensor | None = None,
        audio_prompt: Any = None,
        audio_prompt_sample_rate: int | None = None,
        audio_prompt_weight: float = 1.0,
        progress: Progress | None = None,
    ) -> GenerationOutput:
        """Generate audio from text (and/or an audio prompt).

        Returns `audio` (B, round(duration * sample_rate)). `seed` gives prompt i the seed
        seed+i; each of its `candidates` clips draws all its noise from its own generator
        (see `sample`), so candidates=1 gets the same noise as the first of candidates=n
        for every sampler and eta (equal to float rounding). `latents` (B, C, T', F')
        replaces the start noise (then candidates must be 1). `audio_prompt` conditions on
        a clip's CLAP audio embedding, mixed with the text one by `audio_prompt_weight`.
        """
        if prompt is None and audio_prompt is None:
            raise InvalidInputError("give a prompt or an audio prompt")
        request = self.request(
            prompt="" if prompt is None else prompt,
            duration=duration,
            steps=steps,
            guidance_scale=guidance_scale,
            sampler=sampler,
            eta=eta,
            seed=seed,
            negative_prompt=negative_prompt,
            candidates=candidates,
            audio_prompt_weight=None if audio_prompt is None else audio_prompt_weight,
        )
        clip = None
        if audio_prompt is not None:
            clip = load_input(audio_prompt, audio_prompt_sample_rate, self.sample_rate)
        out = self.run(request, clip, latents=latents, progress=progress)
        return recorded_source(out, "audio_prompt", audio_prompt)

    def transfer(
        self,
        audio: Any,
        prompt: str | Sequence[str],
        *,
        strength: float = 0.5,
        duration: float | None = None,
        sample_rate: int | None = None,
        progress: Progress | None = None,
        **params: Any,
    ) -> GenerationOutput:
        """Text-guided style transfer of `audio` (a path, or an array with `sample_rate`).

        `strength` in (0, 1]: the reverse process runs the last int(strength * steps)
        timesteps of the sampler's grid (the reference's t_enc) from the input latent
        noised to the first of them; strength 1 starts from pure noise (= generate).
        `duration` crops or pads the input; `params` are `SamplingRequest.create`'s."""
        clip = load_input(audio, sample_rate, self.sample_rate)
        request = self._edit_request(
            "transfer", clip, prompt=prompt, strength=strength, duration=duration, **params
        )
        return recorded_source(self.run(request, clip, progress=progress), "input", audio)

    def inpaint(
        self,
        audio: Any,
        prompt: str | Sequence[str],
        *,
        regions: Sequence[Sequence[float]],
        duration: float | None = None,
        sample_rate: int | None = None,
        paste_back: bool = True,
        progress: Progress | None = None,
        **params: Any,
    ) -> GenerationOutput:
        """Fill `regions` [(start_s, end_s), ...] of the clip guided by `prompt`, keeping the
        rest (pasted back sample for sample unless `paste_back=False`)."""
        clip = load_input(audio, sample_rate, self.sample_rate)
        request = self._edit_request(
            "inpaint",
            clip,
            prompt=prompt,
            regions=regions,
            duration=duration,
            paste_back=paste_back,
            **params,
        )
        return recorded_source(self.run(request, clip, progress=progress), "input", audio)

    def super_resolve(
        self,
        audio: Any,
        prompt: str | Sequence[str] = "",
        *,
        cutoff_hz: float = 4000.0,
        sample_rate: int | None = None,
        paste_back: bool = True,
        progress: Progress | None = None,
        **params: Any,
    ) -> GenerationOutput:
        """Regenerate the band above `cutoff_hz` (clamped to the input's own Nyquist), keep
        the band below: the output is low-pass(input) + high-pass(generated)."""
        clip = load_input(audio, sample_rate, self.sample_rate)
        request = self._edit_request(
            "superres", clip, prompt=prompt, cutoff_hz=cutoff_hz, paste_back=paste_back, **params
        )
        return recorded_source(self.run(request, clip, progress=progress), "input", audio)

    def extend(
        self,
        audio: Any,
        prompt: str | Sequence[str],
        *,
        total_duration: float,
        window: float | None = None,
        overlap: float | None = None,
        sample_rate: int | None = None,
        progress: Progress | None = None,
        **params: Any,
    ) -> GenerationOutput:
        """Grow a clip to `total_duration` seconds by windowed outpainting: each window keeps
        its first `overlap` seconds (the end of what exists) and generates the rest."""
        clip = load_input(audio, sample_rate, self.sample_rate)
        request = self._edit_request(
            "extend",
            clip,
            prompt=prompt,
            total_duration=total_duration,
            window=window,
            overlap=overlap,
            **params,
        )
        return recorded_source(self.run(request, clip, progress=progress), "input", audio)

    def _edit_request(self, mode: str, clip: InputClip, **params: Any) -> SamplingRequest:
        return self.request(
            mode=mode, input_samples=len(clip.wave), input_rate=clip.native_rate, **params
        )

    # ------------------------------------------------------------------ editing modes
    def _edit_input(self, request: SamplingRequest, clip: InputClip) -> np.ndarray:
        """The input cropped or padded to the request's duration."""
        return fit_input(clip.wave, round(request.duration * self.sample_rate))

    def _run_transfer(
        self, request: SamplingRequest, clip: InputClip, progress: Progress | None
    ) -> GenerationOutput:
        x0, _ = self.encode_clip(self._edit_input(request, clip))
        grid = self.timesteps(request.sampler, request.steps)
        run = strength_timesteps(grid, float(request.strength or 1.0), request.steps)
        settings = {"strength": request.strength, "start_timestep": run[0] if run else None}
        cond = self.embed_text(request.prompts)
        return self.sample(request, cond, init_latent=x0, progress=progress, settings=settings)

    def _run_inpaint(
        self, request: SamplingRequest, clip: InputClip, progress: Progress | None
    ) -> GenerationOutput:
        regions = list(request.regions or ())
        wave = self._edit_input(request, clip)
        x0, gain = self.encode_clip(wave)
        mask = time_mask(self.seconds_per_latent_frame, regions, x0.shape)
        weights = sample_weights(len(wave), self.sample_rate, regions)
        paste = PasteBack(wave, self.sample_rate, gain, weights=weights)
        return self.sample(
            request,
            self.embed_text(request.prompts),
            init_latent=x0,
            mask=mask,
            paste=paste,
            progress=progress,
            settings={"regions": [list(region) for region in regions]},
        )

    def _run_superres(
        self, request: SamplingRequest, clip: InputClip, progress: Progress | None
    ) -> GenerationOutput:
        cutoff = float(request.cutoff_hz or self.sample_rate / 2)
        low = lowpass(self._edit_input(request, clip), self.sample_rate, cutoff)
        x0, gain = self.encode_clip(low)
        kept_bins = mel_bins_below(self.mel_config, cutoff) // self.vae_factor
        paste = PasteBack(low, self.sample_rate, gain, keep_below_hz=cutoff)
        return self.sample(
            request,
            self.embed_text(request.prompts),
            init_latent=x0,
            mask=band_mask(x0.shape, kept_bins),
            paste=paste,
            progress=progress,
            settings={"cutoff_hz": cutoff, "kept_latent_bins": kept_bins},
        )

    def _run_extend(
        self, request: SamplingRequest, clip: InputClip, progress: Progress | None
    ) -> GenerationOutput:
        """Window after window, each an inpaint of its new part with its seed base+i."""
        rate = self.sample_rate
        total = round(request.duration * rate)
        window, overlap = float(request.window or 0.0), float(request.overlap or 0.0)
        result = clip.wave.astype(np.float32)
        last: GenerationOutput | None = None
        windows = 0
        while len(result) < total:
            segment, kept = extend_segment(result, total, window, overlap, rate)
            window_request = replace(
                request,
                mode="inpaint",
                duration=len(segment) / rate,
                regions=((kept / rate, len(segment) / rate),),
                seeds=(request.seeds[0] + windows,),
                window=None,
                overlap=None,
            )
            last = self._run_inpaint(window_request, InputClip(segment, rate), progress)
            result = np.concatenate([result, last.audio[0][kept:]])
            windows += 1
        assert last is not None, "an extension generates at least one window"
        settings = {
            **last.settings,
            "mode": "extend",
            "total_duration": request.duration,
            "window": window,
            "overlap": overlap,
            "windows": windows,
            "regions": None,
        }
        return GenerationOutput(
            audio=result[None, :total].astype(np.float32),
            sample_rate=rate,
            scores=last.scores,
            seeds=[request.seeds[0]],
            prompts=list(request.prompts),
            settings=settings,
        )
