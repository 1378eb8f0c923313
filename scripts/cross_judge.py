"""Generated clips of two models, each scored by both models' CLAPs (the same judges for both).

    python scripts/cross_judge.py --corpus corpus --model A --model B [--clips 16] [--seconds 3]

A model's own CLAP is a biased judge of its own clips (it is what a v1 vs v2 CLAP score
ratio mixes up); scoring both models' clips with each CLAP separates the generator from
the judge. Test-split captions, seed = index; prints mean CLAP text-audio cosine per
(generator, judge) and the real clips' mean under each judge.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

import torch

from clapldm import AudioLDM
from clapldm.audio.io import read_audio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = (args.corpus / "manifest_test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    rows = random.Random(args.seed).sample(rows, min(args.clips, len(rows)))
    pipes = {name: AudioLDM.from_pretrained(name) for name in args.model}
    clips: dict[str, list] = {"real": []}
    for name, pipe in pipes.items():
        clips[name] = [
            pipe.generate(r["caption"], duration=args.seconds, seed=i).audio[0]
            for i, r in enumerate(rows)
        ]
    rate = next(iter(pipes.values())).sample_rate
    clips["real"] = [
        read_audio(args.corpus / r["path"], rate)[: round(args.seconds * rate)] for r in rows
    ]
    result: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        for judge_name, judge in pipes.items():
            text = judge.embed_text([r["caption"] for r in rows])
            for source, waves in clips.items():
                audio = torch.cat(
                    [judge.embed_audio(torch.from_numpy(w)[None], rate) for w in waves]
                )
                score = statistics.mean((audio * text).sum(-1).tolist())
                result.setdefault(source, {})[judge_name] = round(score, 4)
    print(json.dumps({"clips": len(rows), "seconds": args.seconds, "mean_clap": result}, indent=1))


if __name__ == "__main__":
    main()
