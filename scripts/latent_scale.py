"""The LDM scale factor of a pre-encoded folder: 1 / std of its VAE latent means.

    python scripts/latent_scale.py runs/preencoded [--every 20]

Reads every ``--every``-th clip's ``latent_mean.npy`` in each shard (sorted by name), in
float64, and prints the count, the std and 1/std, the value to pass as
``--set ldm.scale_factor=...``. The trainer's own default (``ldm.scale_factor=0``) takes
1/std of its first batch, as AudioLDM does; over a few hundred whole clips the estimate
does not depend on which crops one batch drew. Used for clapldm-mini v2's second UNet
phase (README, "Rebuild the bundled model").
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

from clapldm.data.shards import index_shards, read_member, shard_paths


def latent_means(folder: Path, every: int) -> list[np.ndarray]:
    values = []
    for shard in shard_paths(folder):
        samples = [m for _, m in index_shards([shard]) if "latent_mean.npy" in m]
        for members in samples[::every]:
            data = read_member(members["latent_mean.npy"])
            values.append(np.load(io.BytesIO(data)).astype(np.float64).ravel())
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a `clapldm preencode` output folder")
    parser.add_argument("--every", type=int, default=20, help="read every N-th clip per shard")
    args = parser.parse_args()
    values = latent_means(args.folder, args.every)
    if not values:
        raise SystemExit(f"{args.folder}: no latent_mean.npy in any shard")
    std = float(np.concatenate(values).std())
    print(f"clips {len(values)}  std {std:.6f}  scale_factor {1.0 / std!r}")


if __name__ == "__main__":
    main()
