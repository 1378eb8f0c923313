"""Work files for `clapldm generate --prompts FILE`: one item per line, checked line by line.

Two formats. Plain text: one prompt per line. JSON Lines: one object per line with the
fields in `FIELDS` (and its mode's `MODE_FIELDS`); a file is JSON Lines when its name ends
in `.jsonl` or its first non-blank line starts with `{`. Blank lines are skipped in both.

Item i (0-based, counting every non-blank line, good or bad) gets the seed `base + i`
unless its line sets `seed`, and the file name `{i:03d}_{prompt slug}.wav` unless it sets
`name`; so an item depends on its own line, the command's flags and its position only.
A line that cannot be used becomes a `BadLine` with its line number and a one-line reason;
the other lines still run. Value ranges (steps, duration against the model's maximum...)
are checked later, against the loaded model, by the pipeline's own checks.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clapldm.errors import InvalidInputError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MAX_NAME_CHARS = 200

# Fields every line may set, then the fields only its mode takes (JSON names = the
# keyword names of the pipeline's methods).
FIELDS = (
    "prompt",
    "negative_prompt",
    "duration",
    "seed",
    "steps",
    "guidance_scale",
    "sampler",
    "eta",
    "candidates",
    "name",
    "mode",
)
MODE_FIELDS: dict[str, tuple[str, ...]] = {
    "generate": ("audio_prompt", "audio_prompt_weight"),
    "transfer": ("input", "strength"),
    "inpaint": ("input", "regions"),
    "superres": ("input", "cutoff_hz"),
    "extend": ("input", "total_duration", "window", "overlap"),
}
# Fields a mode does not take although every other mode does.
NOT_IN_MODE: dict[str, tuple[str, ...]] = {
    "superres": ("duration",),  # the input's own length
    "extend": ("duration", "candidates"),  # total_duration; one window at a time
}


@dataclass(frozen=True)
class JobDefaults:
    """What the command line sets for every line that does not set it itself.

    None leaves the choice to the model (its default sampler, steps, guidance)."""

    seed: int = 0  # item i gets seed + i
    duration: float = 5.0  # seconds (generate)
    steps: int | None = None
    guidance_scale: float | None = None
    sampler: str | None = None
    eta: float = 0.0
    candidates: int = 1
    negative_prompt: str | None = None
    audio_prompt: str | None = None  # a clip's path, for generate items


@dataclass(frozen=True)
class JobItem:
    """One usable line, with the command's defaults filled in.

    `index` is the item's position (0-based, blank lines not counted), `line` its line
    number (1-based); `name` the output file name inside the output folder. Paths
    (`input`, `audio_prompt`) are absolute. Mode settings are None outside their mode.
    """

    index: int
    line: int
    name: str
    mode: str
    prompt: str
    seed: int
    negative_prompt: str | None
    duration: float | None
    steps: int | None
    guidance_scale: float | None
    sampler: str | None
    eta: float
    candidates: int
    input: str | None = None
    audio_prompt: str | None = None
    audio_prompt_weight: float | None = None
    strength: float | None = None
    regions: tuple[tuple[float, float], ...] | None = None
    cutoff_hz: float | None = None
    total_duration: float | None = None
    window: float | None = None
    overlap: float | None = None

    def spec(self) -> dict[str, Any]:
        """Everything that decides this item's output (not where it sits in the file)."""
        data = {key: getattr(self, key) for key in self.__dataclass_fields__}
        data.pop("index")
        data.pop("line")
        return data


@dataclass(frozen=True)
class BadLine:
    """A line that cannot run: its position, a one-line reason, and its prompt if any."""

    index: int
    line: int
    error: str
    prompt: str | None = None

    def message(self) -> str:
        return f"line {self.line}: {self.error}"


JobLine = JobItem | BadLine


def read_jobs(path: str | os.PathLike[str], defaults: JobDefaults) -> list[JobLine]:
    """Read a work file: one `JobItem` or `BadLine` per non-blank line, in file order.

    Raises InvalidInputError when the file itself is unusable (missing, not UTF-8 text,
    no line at all); a bad line is returned, not raised.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"prompt file {file} not found") from None
    except IsADirectoryError:
        raise InvalidInputError(f"prompt file {file} is a folder") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"prompt file {file} is not UTF-8 text") from None
    numbered = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not numbered:
        raise InvalidInputError(f"prompt file {file} holds no prompts")
    json_lines = file.suffix.lower() == ".jsonl" or numbered[0][1].startswith("{")
    width = max(3, len(str(len(numbered) - 1)))
    jobs: list[JobLine] = []
    used_names: dict[str, int] = {}
    for index, (line, content) in enumerate(numbered):
        try:
            if json_lines:
                job = _parse_object(content, index, line, width, defaults, file.parent)
            else:
                job = _build(_plain_fields(content), index, line, width, defaults, file.parent)
            first = used_names.setdefault(job.name, line)
            if first != line:
                raise InvalidInputError(f"name {job.name!r} is already used by line {first}")
        except InvalidInputError as exc:
            jobs.append(BadLine(index, line, str(exc), _prompt_of(content, json_lines)))
            continue
        jobs.append(job)
    return jobs


def _plain_fields(content: str) -> dict[str, Any]:
    return {"prompt": content}


def _parse_object(
    content: str, index: int, line: int, width: int, defaults: JobDefaults, base: Path
) -> JobItem:
    try:
        fields = json.loads(content)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(fields, dict):
        raise InvalidInputError(f"must be a JSON object, got {type(fields).__name__}")
    return _build(fields, index, line, width, defaults, base)


def _prompt_of(content: str, json_lines: bool) -> str | None:
    """The line's prompt for the manifest of a bad line, when there is one."""
    if not json_lines:
        return content
    try:
        fields = json.loads(content)
    except json.JSONDecodeError:
        return None
    prompt = fields.get("prompt") if isinstance(fields, dict) else None
    return prompt if isinstance(prompt, str) else None


def _build(
    fields: dict[str, Any], index: int, line: int, width: int, defaults: JobDefaults, base: Path
) -> JobItem:
    """Check the keys and JSON types of one line and fill in the defaults."""
    mode = fields.get("mode", "generate")
    if mode not in MODE_FIELDS:
        raise InvalidInputError(f"unknown mode {mode!r}; choose one of {', '.join(MODE_FIELDS)}")
    allowed = [k for k in FIELDS if k not in NOT_IN_MODE.get(mode, ())] + list(MODE_FIELDS[mode])
    for key in fields:
        if key not in allowed:
            raise InvalidInputError(_unknown_key(key, mode, allowed))
    read = _FieldReader(fields)
    prompt = read.text("prompt")
    if prompt is None and mode not in ("superres",) and "audio_prompt" not in fields:
        raise InvalidInputError("needs a 'prompt'")
    prompt = prompt or ""
    source = read.path("input", base)
    if mode != "generate" and source is None:
        raise InvalidInputError(f"mode {mode} needs an 'input' audio file")
    if mode == "extend" and "total_duration" not in fields:
        raise InvalidInputError("mode extend needs 'total_duration' (seconds)")
    if mode == "inpaint" and "regions" not in fields:
        raise InvalidInputError("mode inpaint needs 'regions': [[start, end], ...] in seconds")
    seed = read.integer("seed")
    audio_prompt = read.path("audio_prompt", base)
    if mode == "generate" and audio_prompt is None and defaults.audio_prompt is not None:
        audio_prompt = str(Path(defaults.audio_prompt).resolve())
    duration = read.number("duration")
    if duration is None and mode == "generate":
        duration = defaults.duration
    return JobItem(
        index=index,
        line=line,
        name=_output_name(read.text("name"), index, width, prompt),
        mode=mode,
        prompt=prompt,
        seed=defaults.seed + index if seed is None else seed,
        negative_prompt=_or(read.text("negative_prompt"), defaults.negative_prompt),
        duration=duration,
        steps=_or(read.integer("steps"), defaults.steps),
        guidance_scale=_or(read.number("guidance_scale"), defaults.guidance_scale),
        sampler=_or(read.text("sampler"), defaults.sampler),
        eta=_or(read.number("eta"), defaults.eta),
        candidates=1 if mode == "extend" else _or(read.integer("candidates"), defaults.candidates),
        input=source,
        audio_prompt=audio_prompt,
        audio_prompt_weight=read.number("audio_prompt_weight"),
        strength=read.number("strength"),
        regions=read.regions("regions"),
        cutoff_hz=read.number("cutoff_hz"),
        total_duration=read.number("total_duration"),
        window=read.number("window"),
        overlap=read.number("overlap"),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _unknown_key(key: str, mode: str, allowed: Sequence[str]) -> str:
    owners = [m for m, names in MODE_FIELDS.items() if key in names]
    if owners:
        return f"'{key}' applies to mode {' / '.join(owners)}, not to {mode}"
    if key in FIELDS:
        return f"'{key}' does not apply to mode {mode}"
    return f"unknown key {key!r} (known: {', '.join(allowed)})"


class _FieldReader:
    """Typed access to one line's JSON fields; a wrong type is an InvalidInputError."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields

    def text(self, key: str) -> str | None:
        value = self.fields.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidInputError(f"{key} must be text, got {json.dumps(value)}")
        return value

    def number(self, key: str) -> float | None:
        value = self.fields.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidInputError(f"{key} must be a number, got {json.dumps(value)}")
        return float(value)

    def integer(self, key: str) -> int | None:
        value = self.fields.get(key)
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f"{key} must be an integer, got {json.dumps(value)}")
        return value

    def path(self, key: str, base: Path) -> str | None:
        """A file path, relative to the work file's folder unless absolute; must exist."""
        value = self.text(key)
        if value is None:
            return None
        resolved = (base / Path(value).expanduser()).resolve()
        if not resolved.is_file():
            raise InvalidInputError(f"{key} file {value!r} not found (looked at {resolved})")
        return str(resolved)

    def regions(self, key: str) -> tuple[tuple[float, float], ...] | None:
        value = self.fields.get(key)
        if value is None:
            return None
        shape = f"{key} must be a list of [start, end] pairs in seconds, got {json.dumps(value)}"
        if not isinstance(value, list) or not value:
            raise InvalidInputError(shape)
        pairs = []
        for pair in value:
            if not isinstance(pair, list) or len(pair) != 2:
                raise InvalidInputError(shape)
            if any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in pair):
                raise InvalidInputError(shape)
            if not all(math.isfinite(x) for x in pair):
                raise InvalidInputError(shape)
            pairs.append((float(pair[0]), float(pair[1])))
        return tuple(pairs)


def _output_name(name: str | None, index: int, width: int, prompt: str) -> str:
    """`name` (".wav" added unless it ends in .wav/.flac/.ogg) or `{index}_{slug}.wav`."""
    if name is None:
        return f"{index:0{width}d}_{slug(prompt)}.wav"
    if not name.strip() or len(name) > MAX_NAME_CHARS:
        raise InvalidInputError(f"name must be 1 to {MAX_NAME_CHARS} characters, got {name!r}")
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise InvalidInputError(
            f"name {name!r} must be a plain file name (no folders, not starting with '.')"
        )
    return name if name.lower().endswith(AUDIO_SUFFIXES) else f"{name}.wav"


def slug(text: str) -> str:
    """A file-name-safe form of a prompt: lower case, words joined by "_", 40 characters."""
    keep = "".join(c if c.isalnum() else "_" for c in text.lower())[:40]
    return "_".join(filter(None, keep.split("_"))) or "clip"
