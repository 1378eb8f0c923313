"""Runs one validated job on the pipeline and writes its files into the output folder.

Files are named from the server-generated job id only (`<uuid hex>.wav`, `.png`), written
atomically (`write_audio`, `save_spectrogram`: temp file + rename) and carry the same
recipe tags as the CLI's outputs. A cancelled job leaves no file behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
from pathlib import Path
from typing import Any

from clapldm.audio.io import write_audio
from clapldm.errors import OutputError
from clapldm.recipe import recipe_tags
from clapldm.serve.jobs import Job, Report
from clapldm.serve.schemas import ValidRequest

logger = logging.getLogger(__name__)

# pyplot keeps global state: one figure at a time even with several workers.
_PLOT_LOCK = threading.Lock()
_SAFE_NAME = re.compile(r"[0-9a-f]{32}\.(wav|flac|ogg|png)")
MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "png": "image/png"}
# Fractions of the progress bar: sampling is nearly all the time on any model.
_SAMPLING_START, _SAMPLING_END = 0.02, 0.9


def output_path(folder: Path, name: str) -> Path:
    """`folder/name` for a server-made name; anything else (traversal, odd names) refused."""
    if not _SAFE_NAME.fullmatch(name):
        raise OutputError(f"refusing output name {name!r}")
    path = (folder / name).resolve()
    if path.parent != folder:
        raise OutputError(f"refusing output path outside {folder}")
    return path


class AudioRunner:
    """`runner(job, report)` for `JobManager`: pipeline call, audio file, spectrogram."""

    def __init__(self, pipe: Any, output_dir: Path) -> None:
        self.pipe = pipe
        self.output_dir = output_dir
        # With LoRA adapters the pipeline's active set is per job: one job at a time sets
        # it, samples and takes its recipe.
        self._adapter_lock = threading.Lock()

    def __call__(self, job: Job, report: Report) -> tuple[dict[str, Any], dict[str, Path]]:
        request: ValidRequest = job.request
        report(0.0, "starting")

        def progress(step: int, total: int) -> None:
            fraction = _SAMPLING_START + (_SAMPLING_END - _SAMPLING_START) * step / max(total, 1)
            report(fraction, "sampling")

        out, tags = self._call(request, progress)
        report(_SAMPLING_END, "writing")
        files: dict[str, Path] = {}
        try:
            audio_path = output_path(self.output_dir, f"{job.id}.{request.format}")
            write_audio(audio_path, out.audio[0], out.sample_rate, tags=tags)
            files["audio"] = audio_path
            if request.spectrogram:
                report(0.95, "plotting")
                files["spectrogram"] = self._plot(
                    job.id, out.audio[0], out.sample_rate, out.prompts[0]
                )
            report(0.99, "finishing")
        except BaseException:
            for path in files.values():
                path.unlink(missing_ok=True)
            raise
        score = float(out.scores[0])
        result = {
            "seed": int(out.seeds[0]),
            "sample_rate": int(out.sample_rate),
            "duration": out.audio.shape[-1] / out.sample_rate,
            "score": score if math.isfinite(score) else None,
            "settings": json.loads(json.dumps(out.settings, default=str)),
        }
        return result, files

    def _call(self, request: ValidRequest, progress: Any) -> tuple[Any, dict[str, str]]:
        """The pipeline's output and its recipe tags (taken while the job's adapters are
        the active ones)."""
        pipe = self.pipe
        with self._adapter_lock if pipe.loras else contextlib.nullcontext():
            if pipe.loras:
                pipe.set_lora_scales(request.loras)
            out = pipe.run(request.request, request.clip, progress=progress)
            return out, recipe_tags(pipe, out, 0, request.tags or None)

    def _plot(self, job_id: str, audio: Any, sample_rate: int, title: str) -> Path:
        from clapldm.plot import save_spectrogram

        path = output_path(self.output_dir, f"{job_id}.png")
        with _PLOT_LOCK:
            save_spectrogram(path, audio, sample_rate, title=title)
        return path


__all__ = ["AudioRunner", "MEDIA_TYPES", "output_path"]
