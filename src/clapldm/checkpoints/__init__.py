"""Loading models in every supported form; see `load_pipeline`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clapldm.errors import ModelLoadError

BUNDLED = Path(__file__).resolve().parent.parent / "bundled" / "clapldm-mini"


def load_pipeline(
    model: str | os.PathLike[str] | None = None, device: str = "cpu", **kwargs: Any
) -> Any:
    """Native folder, diffusers AudioLDM folder, original `.ckpt`, or hub id -> AudioLDM.

    With `model=None` the bundled clapldm-mini is loaded.
    """
    from clapldm.request import check_device

    check_device(device)
    pipe = _load(model, device, **kwargs)
    pipe.source = "" if model is None else os.fspath(model)
    return pipe


def _load(model: str | os.PathLike[str] | None, device: str, **kwargs: Any) -> Any:
    from clapldm.checkpoints.diffusers import is_diffusers_folder, load_diffusers
    from clapldm.checkpoints.hub import download, looks_like_hub_id
    from clapldm.checkpoints.native import is_native_folder, load_native
    from clapldm.checkpoints.original import load_original

    if model is None:
        if not is_native_folder(BUNDLED):
            raise ModelLoadError(f"the bundled model is not installed at {BUNDLED}; pass --model")
        return load_native(BUNDLED, device)
    name = os.fspath(model)
    path = Path(name).expanduser()
    if not path.exists():
        if looks_like_hub_id(name):
            path = download(name)
        else:
            raise ModelLoadError(f"model {name!r}: no such file or folder")
    if path.is_file():
        if path.suffix in (".ckpt", ".pt", ".pth", ".bin"):
            return load_original(path, device, **kwargs)
        raise ModelLoadError(f"{path}: not a model folder or an original AudioLDM .ckpt")
    if is_native_folder(path):
        return load_native(path, device)
    if is_diffusers_folder(path):
        return load_diffusers(path, device, **kwargs)
    ckpts = sorted(path.glob("*.ckpt"))
    if len(ckpts) == 1:
        return load_original(ckpts[0], device, **kwargs)
    raise ModelLoadError(
        f"{path}: not a model folder (no clapldm or AudioLDMPipeline model_index.json, no single .ckpt)"
    )
