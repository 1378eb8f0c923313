"""`clapldm info`: describe a model, or the recipe stored in an audio file.

`describe` picks by its argument: an audio file (.wav, .flac, .ogg) shows its recipe
(recipe.py), anything else (a model path, a hub id, or None for the bundled model) its
components.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clapldm.pipeline import AudioLDM
from clapldm.recipe import read_file_recipe

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def describe(target: str | None) -> str:
    """What `clapldm info [TARGET]` prints."""
    if target is not None:
        path = Path(target)
        if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES:
            return describe_file(path)
    return describe_model(target)


def describe_file(path: Path) -> str:
    """The recipe stored in an audio file's tags, one `key  value` line each."""
    data = read_file_recipe(path)
    width = max(len(k) for k in data)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in sorted(data.items()))


def describe_model(model: str | None) -> str:
    """Components, parameter counts, mel config and head split of a model (None: the
    bundled one)."""
    pipe = AudioLDM.from_pretrained(model)

    def count(module: Any) -> str:
        if not hasattr(module, "parameters"):
            return "?"
        return f"{sum(p.numel() for p in module.parameters()) / 1e6:.1f}M"

    lines = [
        f"model      {pipe.name} ({pipe.config.source})",
        f"mel        {json.dumps(pipe.mel_config.to_dict())}",
        f"clap       {type(pipe.clap).__name__} {count(pipe.clap)} params, {pipe.clap.embed_dim}-d, audio tower: {pipe.has_audio_tower()}",
        f"vae        {count(pipe.vae)} params, {json.dumps(pipe.vae.config.to_dict())}",
        f"unet       {count(pipe.unet)} params, {json.dumps(pipe.unet.config.to_dict())}",
        f"vocoder    {count(pipe.vocoder)} params, {json.dumps(pipe.vocoder.config.to_dict())}",
        f"scheduler  {json.dumps(pipe.scheduler_config.to_dict())}",
        f"defaults   sampler {pipe.config.default_sampler}, {pipe.config.default_steps} steps, guidance {pipe.config.default_guidance_scale}, max {pipe.config.max_duration:g} s",
    ]
    if pipe.config.extra:
        lines.append(f"notes      {json.dumps(pipe.config.extra)}")
    return "\n".join(lines)
