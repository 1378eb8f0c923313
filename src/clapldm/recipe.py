"""Output files remember how they were made: the recipe in the file's own tags.

`recipe_tags` builds the tags `audio.io.write_audio` stores (WAV INFO / FLAC and OGG
comments); `read_recipe` reads them back into a checked `Recipe`, and `reproduce` runs it
again (`clapldm generate --from FILE`).

What a recipe records: the mode and its settings; every prompt, negative prompt and seed
of the call the clip came from and the clip's index in it (a batch item is reproduced by
rerunning its batch: batched convolutions round differently from single ones); sampler,
steps, guidance, eta, candidates, duration; the precision; the audio files read (input
clip, audio prompt) by resolved path and sha256; the model's name, resolved path and
weight hash. What it guarantees: rerun with the same model (the hash is checked), clapldm
and PyTorch versions, on the same kind of machine and thread count, the samples are the
same bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clapldm.audio.io import read_tags
from clapldm.editing import load_input
from clapldm.errors import InvalidInputError
from clapldm.request import EDIT_MODES

logger = logging.getLogger(__name__)

TAG = "clapldm"
BUNDLED_PREFIX = "bundled:"  # model_path of the bundled model: "bundled:<name>"
# libsndfile keeps at most 2,045 characters of a WAV INFO comment and drops longer ones
# silently (measured: `python -m pytest tests/test_recipe.py -k wav_limit`).
WAV_COMMENT_LIMIT = 2045
MODE_SETTINGS = {
    "generate": ("audio_prompt_weight",),
    "transfer": ("strength",),
    "inpaint": ("regions",),
    "superres": ("cutoff_hz",),
    "extend": ("total_duration", "window", "overlap"),
}


def model_hash(pipe: Any) -> str:
    """Short sha256 over every weight of the pipeline (cached on the object). Loaded LoRA
    adapters are not part of it (the recipe lists them, with their own hashes): the
    weights they wrap are hashed under their own names."""
    cached = getattr(pipe, "_model_hash", None)
    if cached:
        return str(cached)
    digest = hashlib.sha256()
    modules = [pipe.unet, pipe.vae, pipe.vocoder]
    if hasattr(pipe.clap, "state_dict"):
        modules.append(pipe.clap)
    for module in modules:
        state = {
            key.replace(".base_layer.", "."): tensor
            for key, tensor in module.state_dict().items()
            if ".lora_" not in key
        }
        for key, tensor in sorted(state.items()):
            digest.update(key.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    pipe._model_hash = digest.hexdigest()[:16]
    return str(pipe._model_hash)


def model_reference(pipe: Any) -> str:
    """What `--model` must be to load `pipe` again, from any folder: the resolved path of
    a local model, a hub id as given, or "bundled:<name>" for the bundled model."""
    source = getattr(pipe, "source", "") or ""
    if not source:
        return f"{BUNDLED_PREFIX}{pipe.name}"
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileRef:
    """An audio file a clip was made from: resolved path and content hash."""

    path: str
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> FileRef:
        resolved = Path(path).expanduser().resolve()
        return cls(str(resolved), file_sha256(resolved))

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}

    def check(self, what: str, path: str | os.PathLike[str] | None = None) -> str:
        """The file to read (`path` when given, else the recorded one) after checking it is
        there and holds the same bytes; a one-line InvalidInputError otherwise."""
        where = Path(path if path is not None else self.path).expanduser()
        if not where.is_file():
            raise InvalidInputError(
                f"the {what} this clip was made from is missing: {where} (sha256 {self.sha256[:12]})"
            )
        if file_sha256(where) != self.sha256:
            raise InvalidInputError(
                f"the {what} {where} has changed since the clip was made (sha256 differs)"
            )
        return str(where)


def _file_ref(value: Any) -> FileRef | str | None:
    """An input named by the pipeline or a writer: a FileRef when it is a readable file,
    else its name as given (in-memory audio, or a writer that only knows the name)."""
    if value is None or value == "":
        return None
    if isinstance(value, FileRef):
        return value
    if isinstance(value, (str, os.PathLike)) and Path(value).expanduser().is_file():
        return FileRef.of(value)
    return str(value)


def recipe(pipe: Any, out: Any, index: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to regenerate clip `index` of a GenerationOutput.

    `extra` adds entries; its "input" and "audio_prompt" (paths of the audio files read)
    are stored as resolved path + sha256 when the file exists."""
    settings = dict(out.settings)
    extra = dict(extra or {})
    negative = settings.get("negative_prompt")
    negatives = (
        list(negative) if isinstance(negative, list) else [negative or ""] * len(out.prompts)
    )
    data: dict[str, Any] = {
        **settings,
        "prompt": out.prompts[index],
        "seed": out.seeds[index] if index < len(out.seeds) else out.seeds[0],
        "negative_prompt": negatives[index] if index < len(negatives) else negatives[0],
        "precision": settings.get("precision") or getattr(pipe, "precision", "fp32"),
        "model_hash": model_hash(pipe),
        "model_path": model_reference(pipe),
        "sample_rate": out.sample_rate,
    }
    loras = [ref.to_dict() for ref in getattr(pipe, "loras", {}).values() if ref.scale != 0]
    if loras:  # the adapters that shaped the clip (scale 0 = switched off)
        data["loras"] = loras
    if len(out.prompts) > 1:
        data["batch"] = {
            "prompts": list(out.prompts),
            "negative_prompts": negatives,
            "seeds": list(out.seeds),
            "index": index,
        }
    for key in ("input", "audio_prompt"):
        # the writer's entry, then the pipeline's: the first that is a readable file wins
        refs = [_file_ref(extra.pop(key, None)), _file_ref(settings.get(key))]
        files = [r for r in refs if isinstance(r, FileRef)]
        ref = files[0] if files else next((r for r in refs if r is not None), None)
        if isinstance(ref, FileRef):
            data[key] = ref.to_dict()
        elif ref is not None:
            data[key] = ref
    data.update(extra)
    return data


def recipe_tags(
    pipe: Any, out: Any, index: int, extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """The recipe as string tags (JSON-encoded values)."""
    return {TAG: json.dumps(recipe(pipe, out, index, extra), sort_keys=True)}


def check_tags_fit(path: str | os.PathLike[str], tags: Mapping[str, str]) -> None:
    """Refuse to write a WAV whose recipe its INFO chunk would silently drop."""
    if Path(path).suffix.lower() != ".wav":
        return
    size = len(json.dumps(dict(tags), ensure_ascii=True, sort_keys=True))
    if size > WAV_COMMENT_LIMIT:
        raise InvalidInputError(
            f"{path}: the recipe ({size} characters) does not fit in a WAV file's tags "
            f"(at most {WAV_COMMENT_LIMIT}); write .flac or .ogg, or use shorter prompts"
        )


def read_file_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    tags = read_tags(path)
    text = tags.get(TAG)
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


@dataclass(frozen=True)
class Recipe:
    """A clip's recipe, read back and checked (`read_recipe`): the call that made it and
    which of its clips the file holds."""

    mode: str
    prompts: tuple[str, ...]  # every prompt of the call (one unless it was a batch)
    negative_prompts: tuple[str, ...]
    seeds: tuple[int, ...]
    index: int  # the clip's place in the call
    sampler: str
    steps: int
    guidance_scale: float
    eta: float
    candidates: int
    duration: float  # seconds (edit modes: the edited clip's length; extend: the total)
    precision: str
    model_hash: str
    model_path: str | None  # None: the bundled model
    mode_settings: dict[str, Any] = field(default_factory=dict)
    input: FileRef | None = None
    audio_prompt: FileRef | None = None
    loras: tuple[LoraUse, ...] = ()  # LoRA adapters loaded on the model, in load order


@dataclass(frozen=True)
class LoraUse:
    """A LoRA adapter a clip was made with: folder, scale, sha256 of its weights file."""

    path: str
    scale: float
    sha256: str

    def as_arg(self) -> str:
        """The `--lora` value that loads it again."""
        return f"{self.path}:{self.scale!r}"


def check_loras(pipe: Any, recipe: Recipe, *, allow_other_model: bool = False) -> None:
    """Refuse (or, allowed, warn about) adapters that differ from the recipe's: other
    folders, scales or weights."""
    loaded = [
        LoraUse(ref.path, ref.scale, ref.sha256)
        for ref in getattr(pipe, "loras", {}).values()
        if ref.scale != 0
    ]
    if loaded == list(recipe.loras):
        return
    wanted = ", ".join(use.as_arg() for use in recipe.loras) or "none"
    message = f"the clip was made with LoRA adapters {wanted}; the model now holds others"
    if any(a.path == b.path and a.sha256 != b.sha256 for a in loaded for b in recipe.loras):
        message = "a LoRA adapter's weights changed since the clip was made (sha256 differs)"
    if not allow_other_model:
        raise InvalidInputError(f"{message}; pass the same --lora, or --allow-other-model")
    logger.warning("%s: the output will differ", message)


def read_recipe(path: str | os.PathLike[str]) -> Recipe:
    """The checked recipe of an audio file made by clapldm; one-line InvalidInputError for
    a file without one, a corrupt one, or one naming audio it cannot name exactly."""
    data = read_file_recipe(path)
    try:
        return _parse(data)
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(
            f"{path}: the clapldm recipe tag is incomplete or corrupt"
        ) from None


def _parse(data: dict[str, Any]) -> Recipe:
    mode = str(data.get("mode", "generate"))
    if mode not in MODE_SETTINGS:
        raise ValueError(mode)
    batch = data.get("batch")
    if isinstance(batch, dict):
        prompts = tuple(str(p) for p in batch["prompts"])
        negatives = tuple(str(p) for p in batch["negative_prompts"])
        seeds = tuple(int(s) for s in batch["seeds"])
        index = int(batch["index"])
        if not 0 <= index < len(prompts) or len(negatives) != len(prompts):
            raise ValueError("batch")
    else:
        prompts = (str(data["prompt"]),)
        negatives = (str(data.get("negative_prompt") or ""),)
        seeds = (int(data["seed"]),)
        index = 0
    settings = {key: data[key] for key in MODE_SETTINGS[mode] if data.get(key) is not None}
    if "regions" in settings:
        settings["regions"] = [(float(a), float(b)) for a, b in settings["regions"]]
    model_path = str(data.get("model_path") or "")
    return Recipe(
        mode=mode,
        prompts=prompts,
        negative_prompts=negatives,
        seeds=seeds,
        index=index,
        sampler=str(data["sampler"]),
        steps=int(data["steps"]),
        guidance_scale=float(data["guidance_scale"]),
        eta=float(data.get("eta", 0.0)),
        candidates=int(data.get("candidates", 1)),
        duration=float(data["duration"]),
        precision=str(data.get("precision", "fp32")),  # recipes before 0.1.1: fp32 only
        model_hash=str(data.get("model_hash", "")),
        model_path=None if not model_path or model_path.startswith(BUNDLED_PREFIX) else model_path,
        mode_settings=settings,
        input=_stored_ref(data.get("input"), "input clip", mode in EDIT_MODES),
        audio_prompt=_stored_ref(data.get("audio_prompt"), "audio prompt", False),
        loras=tuple(
            LoraUse(str(item["path"]), float(item["scale"]), str(item["sha256"]))
            for item in data.get("loras", [])
        ),
    )


def _stored_ref(value: Any, what: str, required: bool) -> FileRef | None:
    if isinstance(value, dict):
        return FileRef(str(value["path"]), str(value["sha256"]))
    if value is None and not required:
        return None
    name = f" ({value})" if value else ""
    raise InvalidInputError(
        f"the recipe names its {what}{name} without path and hash, so it cannot be reproduced"
    )


def check_model(pipe: Any, recipe: Recipe, *, allow_other_model: bool = False) -> None:
    """Refuse (or, allowed, warn about) a model whose weights differ from the recipe's."""
    actual = model_hash(pipe)
    if not recipe.model_hash or actual == recipe.model_hash:
        return
    message = (
        f"the clip was made with model {recipe.model_hash}, this is {actual} "
        f"({model_reference(pipe)})"
    )
    if not allow_other_model:
        raise InvalidInputError(
            f"{message}; pass --model with the same model, or --allow-other-model"
        )
    logger.warning("%s: the output will differ", message)


def reproduce(
    pipe: Any,
    recipe: Recipe,
    *,
    audio_prompt: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """Run the call a recipe records (the whole batch when it was one) as one
    `SamplingRequest` through `pipe.run`; the clip is `out.audio[recipe.index]`. Checks the
    audio files first (`audio_prompt` may name where the recorded audio prompt is now;
    its hash must match)."""
    settings = dict(recipe.mode_settings)
    clip = None
    if recipe.input is not None:  # every edit mode has one (`_parse` checks)
        clip = load_input(recipe.input.check("input clip"), None, pipe.sample_rate)
        settings.update(input_samples=len(clip.wave), input_rate=clip.native_rate)
    elif recipe.audio_prompt is not None:
        where = recipe.audio_prompt.check("audio prompt", audio_prompt)
        clip = load_input(where, None, pipe.sample_rate)
        settings.setdefault("audio_prompt_weight", 1.0)  # recipes before it was recorded
    if recipe.mode != "extend":
        settings["duration"] = recipe.duration
    request = pipe.request(
        mode=recipe.mode,
        prompt=list(recipe.prompts),
        negative_prompt=list(recipe.negative_prompts),
        seed=list(recipe.seeds) if recipe.mode != "extend" else recipe.seeds[0],
        sampler=recipe.sampler,
        steps=recipe.steps,
        guidance_scale=recipe.guidance_scale,
        eta=recipe.eta,
        candidates=recipe.candidates,
        precision=recipe.precision,
        **settings,
    )
    return pipe.run(request, clip, progress=progress)
