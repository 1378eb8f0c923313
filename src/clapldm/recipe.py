"""Output files remember how they were made: the recipe in the file's own tags.

Tags are stored by `audio.io.write_audio` (WAV INFO / FLAC and OGG comments) and read back
by `read_recipe`, so `clapldm generate --from FILE` reproduces a clip bit for bit with the
same model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from clapldm.audio.io import read_tags
from clapldm.errors import InvalidInputError

REPRODUCIBLE = ("duration", "steps", "guidance_scale", "sampler", "eta", "candidates")


def model_hash(pipe: Any) -> str:
    """Short sha256 over every weight of the pipeline (cached on the object)."""
    cached = getattr(pipe, "_model_hash", None)
    if cached:
        return str(cached)
    digest = hashlib.sha256()
    modules = [pipe.unet, pipe.vae, pipe.vocoder]
    if hasattr(pipe.clap, "state_dict"):
        modules.append(pipe.clap)
    for module in modules:
        for key, tensor in sorted(module.state_dict().items()):
            digest.update(key.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    pipe._model_hash = digest.hexdigest()[:16]
    return str(pipe._model_hash)


def recipe(pipe: Any, out: Any, index: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to regenerate clip `index` of a GenerationOutput."""
    settings = dict(out.settings)
    data: dict[str, Any] = {
        "prompt": out.prompts[index],
        "seed": out.seeds[index],
        **settings,
        "model_hash": model_hash(pipe),
        "model_path": getattr(pipe, "source", None) or "",
        "sample_rate": out.sample_rate,
    }
    negative = settings.get("negative_prompt")
    if isinstance(negative, list):
        data["negative_prompt"] = negative[index]
    data.update(extra or {})
    return data


def recipe_tags(
    pipe: Any, out: Any, index: int, extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """The recipe as string tags (JSON-encoded values)."""
    return {"clapldm": json.dumps(recipe(pipe, out, index, extra), sort_keys=True)}


def read_file_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    tags = read_tags(path)
    text = tags.get("clapldm")
    if not text:
        raise InvalidInputError(
            f"{path}: holds no clapldm recipe (not made by clapldm, or tags stripped)"
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise InvalidInputError(f"{path}: the clapldm recipe tag is corrupt") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: the clapldm recipe tag is corrupt")
    return data


def read_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Keyword arguments for `AudioLDM.generate` (plus "prompt" and "model_path")."""
    data = read_file_recipe(path)
    if data.get("mode", "generate") != "generate":
        raise InvalidInputError(
            f"{path}: was made by '{data.get('mode')}'; --from reproduces generate only"
        )
    kwargs = {key: data[key] for key in REPRODUCIBLE if key in data}
    kwargs["seed"] = int(data["seed"])
    kwargs["prompt"] = data["prompt"]
    if data.get("negative_prompt"):
        kwargs["negative_prompt"] = data["negative_prompt"]
    kwargs["model_path"] = data.get("model_path") or None
    return kwargs


def describe_file(path: Path) -> str:
    data = read_file_recipe(path)
    width = max(len(k) for k in data)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in sorted(data.items()))


def describe_model(model: str | None) -> str:
    """Components, parameter counts, mel config and head split of a model."""
    from clapldm.pipeline import AudioLDM

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
