"""Load a pipeline the way a command names it: the model, its LoRA adapters at their
scales, then the precision.

One place for that order, shared by the one-clip commands (`clapldm.cli`) and every
process of a run at scale (`clapldm.scale.runner`), so that both make the same model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from clapldm.pipeline import AudioLDM


def parse_lora_args(values: Sequence[str]) -> list[tuple[str, float]]:
    """``["kit", "rain:0.5"]`` -> ``[("kit", 1.0), ("rain", 0.5)]``; a suffix after the last
    ':' is a scale only when it is a number (so a path may contain ':')."""
    parsed = []
    for value in values:
        path, sep, tail = value.rpartition(":")
        try:
            parsed.append((path, float(tail)) if sep and path else (value, 1.0))
        except ValueError:
            parsed.append((value, 1.0))
    return parsed


def load_pipeline(
    model: str | os.PathLike[str] | None,
    *,
    device: str = "cpu",
    loras: Sequence[tuple[str, float]] = (),
    precision: str = "fp32",
) -> AudioLDM:
    """`model` on `device`, with each (adapter folder, scale) of `loras` loaded in order,
    at `precision`. A missing or mismatched adapter is a one-line `ModelLoadError`."""
    pipe = AudioLDM.from_pretrained(model, device=device)
    for path, scale in loras:
        pipe.load_lora(path, scale=scale)  # before bf16 without fp32 copies (checked in fp32)
    if precision != "fp32":
        pipe.set_precision(precision, keep_fp32=False)  # one precision per run
    return pipe


__all__ = ["load_pipeline", "parse_lora_args"]
