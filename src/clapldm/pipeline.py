"""AudioLDM: the pipeline that composes CLAP, VAE, UNet and vocoder by name.

Text -> CLAP text embedding -> reverse diffusion on VAE latents (classifier-free guidance)
-> VAE decoder -> log-mel -> HiFi-GAN -> waveform. Editing modes (transfer, inpaint,
super-resolve, extend) live in `editing.py` and reuse `denoise` / `encode_audio` /
`decode_latents` from here. Every generation parameter is passed per call.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapldm import __version__
from clapldm.audio.mel import MelFrontEnd, normalize_waveform
from clapldm.config import MelConfig, PipelineConfig, SchedulerConfig
from clapldm.diffusion import schedule
from clapldm.diffusion.guidance import guided_eps_model
from clapldm.diffusion.samplers import SAMPLERS, Hook, check_sampler
from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.models.clap import TextAudioEncoder
from clapldm.models.hifigan import HifiGan
from clapldm.models.unet import AudioLDMUNet
from clapldm.models.vae import AutoencoderKL
from clapldm.request import (
    MAX_CANDIDATES,
    GenerationOutput,
    check_duration,
    check_int,
    check_number,
    check_prompts,
    resolve_seeds,
)

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


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
        self.precision = "fp32"
        self._fp32_weights: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
        self._fp32_dropped = False
        check_components(self)
        self.device = torch.device("cpu")
        self.to(device)

    # ----------------------------------------------------------------------- assembly
    @classmethod
    def from_pretrained(
        cls, model: str | os.PathLike[str] | None = None, device: str = "cpu", **kwargs: Any
    ) -> AudioLDM:
        """Load a native folder, a diffusers AudioLDM folder, an original `.ckpt`, or a hub id.

        With no `model`, the bundled clapldm-mini is used.
        """
        from clapldm.checkpoints import load_pipeline

        return load_pipeline(model, device=device, **kwargs)

    def save_pretrained(self, folder: str | os.PathLike[str]) -> None:
        from clapldm.checkpoints.native import save_native

        if self._fp32_dropped:
            raise InvalidInputError(
                "cannot save: this pipeline's fp32 weights were freed (bf16, keep_fp32=False)"
            )
        precision = self.precision
        self.set_precision("fp32")  # always save the exact fp32 weights
        try:
            save_native(self, Path(folder))
        finally:
            self.set_precision(precision)

    def to(self, device: str | torch.device) -> AudioLDM:
        device = check_device(device)
        precision = self.precision
        if not self._fp32_dropped:
            self.set_precision("fp32")  # move the fp32 originals, then cast again
        for module in (self.vae, self.unet, self.vocoder, self.mel):
            module.to(device)
        if isinstance(self.clap, torch.nn.Module):
            self.clap.to(device)
        self.device = device
        self._uncond_cache.clear()
        return self.set_precision(precision)

    def set_precision(self, precision: str, *, keep_fp32: bool = True) -> AudioLDM:
        """ "fp32" (exact, default) or "bf16": UNet, VAE decoder and vocoder run under bf16
        autocast with their conv / linear weights cast to bf16 once (not at every call);
        norms, the sampler state, the VAE encoder and the CLAP stay fp32. Opt-in and
        approximate. Switching back to fp32 restores the exact fp32 weights, which are kept
        for that; `keep_fp32=False` frees them instead (less memory; then the pipeline
        stays bf16 and cannot be saved)."""
        if precision not in ("fp32", "bf16"):
            raise InvalidInputError(f"precision must be fp32 or bf16, got {precision!r}")
        if precision != self.precision:
            if precision == "fp32" and self._fp32_dropped:
                raise InvalidInputError(
                    "this pipeline's fp32 weights were freed (bf16 with keep_fp32=False); "
                    "load the model again for fp32"
                )
            self._cast_weights(torch.bfloat16 if precision == "bf16" else None)
        if precision == "bf16" and not keep_fp32:
            self._fp32_weights = []
            self._fp32_dropped = True
        self.precision = precision
        return self

    def _autocast_modules(self) -> list[torch.nn.Module]:
        """The modules that only ever run inside `autocast()`."""
        return [self.unet, self.vae.post_quant_conv, self.vae.decoder, self.vocoder]

    def _cast_weights(self, dtype: torch.dtype | None) -> None:
        """Conv / linear parameters to `dtype`, keeping the fp32 originals; None restores them."""
        if dtype is None:
            for param, original in self._fp32_weights:
                param.data = original
            self._fp32_weights = []
            return
        layers = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose1d, torch.nn.Linear)
        for root in self._autocast_modules():
            for layer in root.modules():
                if isinstance(layer, layers):
                    for param in layer.parameters(recurse=False):
                        if param.dtype == torch.float32:
                            self._fp32_weights.append((param, param.data))
                            param.data = param.data.to(dtype)

    def autocast(self) -> Any:
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    # --------------------------------------------------------------------- geometry
    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def vae_factor(self) -> int:
        return 2 ** (len(self.vae.config.ch_mult) - 1)

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

    # ------------------------------------------------------------------ public modes
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
        seed+i; its CPU generator draws the start noise of each of `candidates` clips in
        turn, so candidates=1 equals the first of candidates=n. `latents` (B, C, T', F')
        replaces the start noise (then candidates must be 1). `audio_prompt` conditions on
        a clip's CLAP audio embedding, mixed with the text one by `audio_prompt_weight`.
        """
        from clapldm.editing import audio_condition

        request = self._common(duration, steps, guidance_scale, sampler, eta, candidates)
        if prompt is None and audio_prompt is None:
            raise InvalidInputError("give a prompt or an audio prompt")
        prompts = check_prompts(
            prompt if prompt is not None else "", allow_empty=audio_prompt is not None
        )
        num_samples = round(request["duration"] * self.sample_rate)
        cond = self.embed_text(prompts)
        if audio_prompt is not None:
            cond = audio_condition(
                self, cond, prompts, audio_prompt, audio_prompt_sample_rate, audio_prompt_weight
            )
        return self.run(
            prompts,
            cond,
            negative_prompt,
            seed,
            num_samples,
            request,
            start=None,
            latents=latents,
            mode="generate",
            progress=progress,
        )

    def transfer(self, audio: Any, prompt: str | Sequence[str], **kwargs: Any) -> GenerationOutput:
        from clapldm.editing import transfer

        return transfer(self, audio, prompt, **kwargs)

    def inpaint(self, audio: Any, prompt: str | Sequence[str], **kwargs: Any) -> GenerationOutput:
        from clapldm.editing import inpaint

        return inpaint(self, audio, prompt, **kwargs)

    def super_resolve(
        self, audio: Any, prompt: str | Sequence[str] = "", **kwargs: Any
    ) -> GenerationOutput:
        from clapldm.editing import super_resolve

        return super_resolve(self, audio, prompt, **kwargs)

    def extend(self, audio: Any, prompt: str | Sequence[str], **kwargs: Any) -> GenerationOutput:
        from clapldm.editing import extend

        return extend(self, audio, prompt, **kwargs)

    # ------------------------------------------------------------------ shared core
    def _common(
        self,
        duration: float,
        steps: int | None,
        guidance_scale: float | None,
        sampler: str | None,
        eta: float,
        candidates: int,
    ) -> dict[str, Any]:
        """Validate the parameters every mode shares; fill model defaults."""
        sampler = check_sampler(sampler or self.config.default_sampler)
        steps = self.config.default_steps if steps is None else steps
        schedule.check_steps(steps, self.scheduler_config.num_train_timesteps)
        guidance = self.config.default_guidance_scale if guidance_scale is None else guidance_scale
        return {
            "duration": check_duration(duration, self.config.max_duration),
            "steps": steps,
            "guidance_scale": check_number("guidance_scale", guidance, 0.0, 100.0),
            "sampler": sampler,
            "eta": check_number("eta", eta, 0.0, 10.0),
            "candidates": check_int("candidates", candidates, 1, MAX_CANDIDATES),
        }

    def run(
        self,
        prompts: list[str],
        cond: torch.Tensor,
        negative_prompt: str | Sequence[str] | None,
        seed: int | Sequence[int] | None,
        num_samples: int,
        request: dict[str, Any],
        *,
        start: Callable[[torch.Tensor, list[torch.Generator]], tuple[torch.Tensor, list[int]]]
        | None,
        latents: torch.Tensor | None,
        mode: str,
        before_model: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
        finish: Callable[[torch.Tensor], torch.Tensor] | None = None,
        postprocess: Callable[[np.ndarray, list[int]], np.ndarray] | None = None,
        progress: Progress | None = None,
        extra_settings: dict[str, Any] | None = None,
    ) -> GenerationOutput:
        """Sample `candidates` clips per prompt, decode, re-rank by CLAP, keep the best.

        `start(noise, generators)` turns start noise into the first latent and returns the
        timesteps to run (editing modes); `before_model` / `finish` re-impose known latents;
        `postprocess(audio, item_index)` edits decoded waveforms (paste-back of kept audio).
        """
        count = len(prompts)
        n = request["candidates"]
        negatives = check_prompts(
            negative_prompt if negative_prompt is not None else [""] * count, allow_empty=True
        )
        if len(negatives) == 1 and count > 1:
            negatives = negatives * count
        if len(negatives) != count:
            raise InvalidInputError(f"got {len(negatives)} negative prompts for {count} prompts")
        if n > 1 and not self.has_audio_tower():
            raise InvalidInputError(
                "candidates > 1 needs a CLAP with an audio tower; this model has none"
            )
        seeds = resolve_seeds(seed, count)
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        item_generators = [generators[i] for i in range(count) for _ in range(n)]
        shape = self.latent_shape(num_samples)
        # Candidate k of prompt i is the (k+1)-th draw of generator i.
        drawn = [
            [torch.randn(shape, generator=generators[i]) for _ in range(n)] for i in range(count)
        ]
        noise = torch.stack([x for per in drawn for x in per]).to(self.device)
        timesteps = self.timesteps(request["sampler"], request["steps"])
        if latents is not None:
            if n != 1:
                raise InvalidInputError("latents cannot be combined with candidates > 1")
            expected = (count, *shape)
            if tuple(latents.shape) != expected:
                raise InvalidInputError(
                    f"latents must have shape {expected}, got {tuple(latents.shape)}"
                )
            noise = latents.to(self.device, torch.float32)
        x = noise
        if start is not None:
            x, timesteps = start(noise, item_generators)
        index = [i for i in range(count) for _ in range(n)]
        cond_items = cond[index]
        uncond_items = self.embed_text(negatives)[index]
        if timesteps:
            x = self.denoise(
                x,
                cond_items,
                uncond_items,
                timesteps=timesteps,
                sampler=request["sampler"],
                guidance_scale=request["guidance_scale"],
                eta=request["eta"],
                generators=item_generators,
                before_model=before_model,
                progress=progress,
            )
        if finish is not None:
            x = finish(x)
        audio = self.decode_latents(x, num_samples)
        if postprocess is not None:
            audio = postprocess(audio, index)
        scores = self._scores(audio, cond_items)
        keep = [
            i * n + int(np.argmax(np.nan_to_num(scores[i * n : (i + 1) * n], nan=-2.0)))
            for i in range(count)
        ]
        settings = {
            "mode": mode,
            "model": self.name,
            "sampler": request["sampler"],
            "steps": request["steps"],
            "guidance_scale": request["guidance_scale"],
            "eta": request["eta"],
            "duration": request["duration"],
            "candidates": n,
            "negative_prompt": negatives[0] if len(set(negatives)) == 1 else negatives,
            "clapldm_version": __version__,
            **(extra_settings or {}),
        }
        return GenerationOutput(
            audio=np.ascontiguousarray(audio[keep], dtype=np.float32),
            sample_rate=self.sample_rate,
            scores=scores[keep],
            seeds=seeds,
            prompts=prompts,
            settings=settings,
        )

    def _scores(self, audio: np.ndarray, cond: torch.Tensor) -> np.ndarray:
        if not self.has_audio_tower():
            return np.full(audio.shape[0], np.nan, dtype=np.float32)
        embedded = self.embed_audio(torch.from_numpy(audio), self.sample_rate)
        return (embedded * cond).sum(-1).float().cpu().numpy()


def check_device(device: str | torch.device) -> torch.device:
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


def check_components(pipe: AudioLDM) -> None:
    """Refuse components that cannot work together (one-line ModelLoadError)."""
    mel, vae, unet, voc = pipe.mel_config, pipe.vae.config, pipe.unet.config, pipe.vocoder.config
    problems = []
    if voc.num_mels != mel.n_mels:
        problems.append(
            f"vocoder expects {voc.num_mels} mel bins but the mel config has {mel.n_mels}"
        )
    if voc.hop_length != mel.hop_length:
        problems.append(f"vocoder hop {voc.hop_length} != mel hop {mel.hop_length}")
    if unet.in_channels != vae.z_channels or unet.out_channels != vae.z_channels:
        problems.append(
            f"UNet channels {unet.in_channels}/{unet.out_channels} != VAE latent channels {vae.z_channels}"
        )
    if unet.cond_dim != pipe.clap.embed_dim:
        problems.append(
            f"UNet condition size {unet.cond_dim} != CLAP embedding size {pipe.clap.embed_dim}"
        )
    factor = 2 ** (len(vae.ch_mult) - 1)
    if mel.n_mels % factor:
        problems.append(f"{mel.n_mels} mel bins are not divisible by the VAE factor {factor}")
    if problems:
        raise ModelLoadError("mismatched components: " + "; ".join(problems))
