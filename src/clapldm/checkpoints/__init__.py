"""Loading models in every supported form as pipeline components; see `load_components`.

The loaders return `Components` (components.py) and know nothing of the pipeline:
`AudioLDM.from_pretrained` builds the pipeline from what they return.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clapldm.checkpoints.diffusers import is_diffusers_folder, load_diffusers
from clapldm.checkpoints.hub import download, looks_like_hub_id
from clapldm.checkpoints.native import is_native_folder, load_native
from clapldm.checkpoints.original import load_original
from clapldm.components import Components
from clapldm.errors import ModelLoadError

BUNDLED = Path(__file__).resolve().parent.parent / "bundled" / "clapldm-mini"


def load_components(model: str | os.PathLike[str] | None = None, **kwargs: Any) -> Components:
    """Native folder, diffusers AudioLDM folder, original `.ckpt`, or hub id -> components
    (on the CPU). With `model=None` the bundled clapldm-mini is loaded. `kwargs` go to the
    original `.ckpt` loader (tokenizer, head_dim, ...; see `load_original`)."""
    if model is None:
        if not is_native_folder(BUNDLED):
            raise ModelLoadError(f"the bundled model is not installed at {BUNDLED}; pass --model")
        return load_native(BUNDLED)
    name = os.fspath(model)
    path = Path(name).expanduser()
    if not path.exists():
        if looks_like_hub_id(name):
            path = download(name)
        else:
            raise ModelLoadError(f"model {name!r}: no such file or folder")
    if path.is_file():
        if path.suffix in (".ckpt", ".pt", ".pth", ".bin"):
            return load_original(path, **kwargs)
        raise ModelLoadError(f"{path}: not a model folder or an original AudioLDM .ckpt")
    if is_native_folder(path):
        return load_native(path)
    if is_diffusers_folder(path):
        return load_diffusers(path, **kwargs)
    ckpts = sorted(path.glob("*.ckpt"))
    if len(ckpts) == 1:
        return load_original(ckpts[0], **kwargs)
    raise ModelLoadError(
        f"{path}: not a model folder (no clapldm or AudioLDMPipeline model_index.json, no single .ckpt)"
    )
