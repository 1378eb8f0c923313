"""Audio files in and out: any readable file -> mono float32 at a target rate; atomic writes.

Reading uses soundfile (libsndfile: WAV, FLAC, OGG/Vorbis, MP3, ...) and soxr "HQ"
resampling. Every way a file can be unusable (missing, empty, not audio, truncated, silent
length zero, NaN/Inf samples, too long) raises `AudioReadError` with a one-line message
naming the file.

Writing goes to a temp file in the target folder and is renamed over the target, so a
reader never sees half a file. Tags (e.g. generation parameters) are stored JSON-encoded
in the file's "comment" field (WAV INFO chunk, FLAC/OGG Vorbis comment), plus the native
"title"/"artist"/... fields when those keys are present, and `read_tags` returns them.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf
import soxr
import torch

from clapldm.errors import AudioReadError, OutputError
from clapldm.fileio import atomic_path

AudioSource = str | os.PathLike[str] | bytes | bytearray | BinaryIO

# Output format and sample encoding per suffix. WAV stays float so a written file reads
# back bit-exactly (reproducibility tests compare files); FLAC is 24-bit PCM.
_WRITE_FORMATS: dict[str, tuple[str, str]] = {
    ".wav": ("WAV", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
}
# Tag keys also mirrored into libsndfile's native string fields (shown by players).
# "software" and "comment" are left alone: libsndfile appends to "software", and
# "comment" carries the JSON of the whole dict.
_NATIVE_TAGS = ("title", "artist", "album", "copyright", "date", "genre", "license")


def _describe(source: AudioSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray)):
        return "<audio bytes>"
    return str(getattr(source, "name", "<audio stream>"))


def _wav_data_is_truncated(head: bytes, file_size: int) -> bool:
    """True when a RIFF/WAVE header promises more 'data' bytes than the file holds.

    libsndfile silently reads what is there; a cut-off download should fail loudly instead.
    Streaming writers put 0 or 0xFFFFFFFF in size fields; those are not checked.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    offset = 12
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (chunk_size,) = struct.unpack("<I", head[offset + 4 : offset + 8])
        if chunk_id == b"data":
            if chunk_size in (0, 0xFFFFFFFF):
                return False
            return offset + 8 + chunk_size > file_size
        offset += 8 + chunk_size + (chunk_size & 1)
    return False


def read_audio(
    source: AudioSource, target_sr: int, *, max_seconds: float | None = None
) -> np.ndarray:
    """Read an audio file (path, bytes or binary stream) as mono float32 at ``target_sr``.

    Channels are mixed to mono by their mean; the rate is converted with soxr "HQ".
    ``max_seconds`` bounds the file's duration (checked from the header before decoding).
    Returns (samples,) float32. Raises `AudioReadError` naming the file on any problem.
    """
    name = _describe(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise AudioReadError(f"{name}: file not found")
        if not path.is_file():
            raise AudioReadError(f"{name}: not a file")
        try:
            file_size = path.stat().st_size
            with path.open("rb") as fh:
                head = fh.read(1 << 16)
        except OSError as exc:
            raise AudioReadError(f"{name}: cannot open ({exc.strerror or exc})") from None
        opened: Any = str(path)
    elif isinstance(source, (bytes, bytearray)):
        file_size = len(source)
        head = bytes(source[: 1 << 16])
        opened = io.BytesIO(bytes(source))
    else:
        data = source.read()
        file_size = len(data)
        head = data[: 1 << 16]
        opened = io.BytesIO(data)
    if file_size == 0:
        raise AudioReadError(f"{name}: file is empty (0 bytes)")
    if _wav_data_is_truncated(head, file_size):
        raise AudioReadError(f"{name}: truncated WAV file (header promises more data)")

    try:
        with sf.SoundFile(opened) as sound:
            source_sr = sound.samplerate
            expected_frames = sound.frames
            file_format = sound.format
            if max_seconds is not None and expected_frames / source_sr > max_seconds:
                raise AudioReadError(
                    f"{name}: {expected_frames / source_sr:.2f} s is longer than the "
                    f"{max_seconds:g} s limit"
                )
            audio = sound.read(dtype="float32", always_2d=True)  # (frames, channels)
    except sf.LibsndfileError as exc:
        raise AudioReadError(f"{name}: not a readable audio file ({exc.error_string})") from None
    except (sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise AudioReadError(f"{name}: not a readable audio file ({exc})") from None

    # MP3 headers carry an estimate of the length, so only exact formats are checked.
    if file_format != "MP3" and audio.shape[0] < expected_frames:
        raise AudioReadError(
            f"{name}: truncated file ({audio.shape[0]} of {expected_frames} frames readable)"
        )
    # The layout is known here, so mix before the shape-guessing helper sees it.
    mono = audio.mean(axis=1, dtype=np.float32) if audio.shape[0] else np.zeros(0, np.float32)
    return to_mono_resampled(mono, source_sr, target_sr, max_seconds=max_seconds, name=name)


def to_mono_resampled(
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    target_sr: int,
    *,
    max_seconds: float | None = None,
    name: str = "audio array",
) -> np.ndarray:
    """In-memory audio -> mono float32 (samples,) at ``target_sr``.

    ``audio`` is (samples,), (channels, samples) or (samples, channels). For 2-D input
    the **smaller** axis is taken as channels (ties: axis 0), since real audio has far
    more samples than channels. Raises `AudioReadError` (naming ``name``) when there are
    no samples, any sample is NaN/Inf, or the audio is longer than ``max_seconds``.
    """
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(audio, dtype=np.float32)
    if sample_rate <= 0 or target_sr <= 0:
        raise AudioReadError(f"{name}: sample rates must be positive ({sample_rate}, {target_sr})")
    if array.size == 0:
        raise AudioReadError(f"{name}: holds no audio samples")
    if array.ndim == 2:
        channel_axis = 0 if array.shape[0] <= array.shape[1] else 1
        array = array.mean(axis=channel_axis, dtype=np.float32)
    elif array.ndim != 1:
        raise AudioReadError(f"{name}: expected 1-D or 2-D audio, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise AudioReadError(f"{name}: holds non-finite samples (NaN or Inf)")
    if max_seconds is not None and array.shape[0] / sample_rate > max_seconds:
        raise AudioReadError(
            f"{name}: {array.shape[0] / sample_rate:.2f} s is longer than the "
            f"{max_seconds:g} s limit"
        )
    if sample_rate != target_sr:
        array = soxr.resample(array, sample_rate, target_sr, quality="HQ")
    return np.ascontiguousarray(array, dtype=np.float32)


def write_audio(
    path: str | os.PathLike[str],
    audio: np.ndarray | torch.Tensor,
    sample_rate: int,
    tags: dict[str, str] | None = None,
) -> Path:
    """Write mono ``audio`` (samples,) float to ``path`` atomically; returns the path.

    The format follows the suffix: .wav (32-bit float), .flac (24-bit PCM), .ogg (Vorbis).
    PCM/Vorbis output is clipped to [-1, 1]. ``tags`` are stored as file metadata (see
    `read_tags`). Raises `OutputError` if the folder is missing or not writable, the
    suffix is unsupported, or the audio is not finite 1-D.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise OutputError(
            f"{path}: unsupported output format {suffix or '(none)'!r}; use .wav, .flac or .ogg"
        )
    file_format, subtype = _WRITE_FORMATS[suffix]
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().to("cpu", torch.float32).numpy()
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1 or samples.shape[0] == 0:
        raise OutputError(f"{path}: expected non-empty mono audio (samples,), got {samples.shape}")
    if not np.isfinite(samples).all():
        raise OutputError(f"{path}: audio holds non-finite samples (NaN or Inf)")
    if subtype != "FLOAT":
        samples = np.clip(samples, -1.0, 1.0)
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"{path}: output folder {folder} does not exist")

    try:
        with (
            atomic_path(path) as temp,
            sf.SoundFile(
                temp, "w", samplerate=sample_rate, channels=1, format=file_format, subtype=subtype
            ) as sound,
        ):
            if tags:
                _set_tags(sound, tags)
            sound.write(samples)
    except (OSError, sf.SoundFileError, RuntimeError, ValueError) as exc:
        raise OutputError(f"{path}: cannot write audio ({exc})") from None
    return path


def _set_tags(sound: sf.SoundFile, tags: dict[str, str]) -> None:
    clean = {str(key): str(value) for key, value in tags.items()}
    # ensure_ascii keeps the comment ASCII, which every container stores verbatim.
    sound.comment = json.dumps(clean, ensure_ascii=True, sort_keys=True)
    for key in _NATIVE_TAGS:
        if key in clean:
            setattr(sound, key, clean[key])


def read_tags(path: str | os.PathLike[str]) -> dict[str, str]:
    """Tags stored by `write_audio` (or native string fields of any other file).

    Returns the JSON dict from the "comment" field when there is one, else the non-empty
    native fields (title, artist, comment, ...). Raises `AudioReadError` if unreadable.
    """
    name = str(path)
    if not Path(path).is_file():
        raise AudioReadError(f"{name}: file not found")
    try:
        with sf.SoundFile(str(path)) as sound:
            native = {key: value for key, value in sound.copy_metadata().items() if value}
    except (sf.SoundFileError, RuntimeError) as exc:
        raise AudioReadError(f"{name}: not a readable audio file ({exc})") from None
    comment = native.get("comment", "")
    try:
        decoded = json.loads(comment) if comment.startswith("{") else None
    except json.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict) and all(isinstance(v, str) for v in decoded.values()):
        return {str(k): v for k, v in decoded.items()}
    return dict(native)
