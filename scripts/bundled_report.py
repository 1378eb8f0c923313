"""Measure a model on the corpus' held-out test split (the bundled model card's figures).

    python scripts/bundled_report.py --corpus /work/corpus [--model FOLDER] [--json out.json]

Figures: CLAP text->audio retrieval recall@1/@10 over the test clips; CLAP score of
generated clips relative to the real clips with the same captions; pitch accuracy (median
pYIN f0 within one semitone) on instrument-note prompts whose instrument x note pairs never
occur in training; FAD between generated and real test clips on the CLAP audio tower; wall
time to generate 5 s and to load the model.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from clapldm import AudioLDM
from clapldm.audio.io import read_audio
from clapldm.eval.metrics import frechet_from_features


def load_rows(corpus: Path, split: str) -> list[dict]:
    path = corpus / f"manifest_{split}.jsonl"
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


@torch.no_grad()
def embed_clips(pipe: AudioLDM, waves: list[np.ndarray]) -> torch.Tensor:
    return torch.cat([pipe.embed_audio(torch.from_numpy(w)[None], pipe.sample_rate) for w in waves])


def retrieval(pipe: AudioLDM, rows: list[dict], waves: list[np.ndarray]) -> dict[str, float]:
    """Text -> audio recall@k: each caption must find its own clip among all test clips."""
    audio = embed_clips(pipe, waves)
    text = torch.cat([pipe.embed_text([r["caption"]]) for r in rows])
    similarity = text @ audio.T
    ranks = (similarity > similarity.diag()[:, None]).sum(dim=1)  # clips scoring above the true one
    return {
        "clips": len(rows),
        "recall@1": float((ranks < 1).float().mean()),
        "recall@10": float((ranks < 10).float().mean()),
        "chance@10": min(1.0, 10 / len(rows)),
    }


def pitch_of(wave: np.ndarray, rate: int) -> float | None:
    import librosa

    f0, voiced, _ = librosa.pyin(
        wave, fmin=librosa.note_to_hz("C1"), fmax=librosa.note_to_hz("C7"), sr=rate
    )
    values = f0[voiced & np.isfinite(f0)]
    return float(librosa.hz_to_midi(np.median(values))) if len(values) else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--model", default=None)
    parser.add_argument(
        "--clips", type=int, default=60, help="generated clips for the CLAP/FAD figures"
    )
    parser.add_argument("--notes", type=int, default=40, help="held-out instrument-note prompts")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)

    start = time.perf_counter()
    pipe = AudioLDM.from_pretrained(args.model)
    load_seconds = time.perf_counter() - start
    sampling = {"steps": args.steps, "sampler": args.sampler, "guidance_scale": args.guidance}
    rate = pipe.sample_rate

    rows = load_rows(args.corpus, "test")
    waves = [read_audio(args.corpus / r["path"], rate)[: int(10 * rate)] for r in rows]
    report: dict[str, object] = {"model": pipe.name, "load_seconds": round(load_seconds, 2)}
    report["retrieval"] = retrieval(pipe, rows, waves)

    # Generated vs real: CLAP score of each caption with its generated and its real clip.
    picked = rng.sample(range(len(rows)), min(args.clips, len(rows)))
    generated, real_scores, gen_scores, times = [], [], [], []
    for n, i in enumerate(picked):
        caption = rows[i]["caption"]
        duration = float(min(max(rows[i].get("duration", args.seconds), 1.0), args.seconds))
        t0 = time.perf_counter()
        out = pipe.generate(caption, duration=duration, seed=args.seed + n, **sampling)
        times.append((time.perf_counter() - t0) / duration * 5.0)
        generated.append(out.audio[0])
        text = pipe.embed_text([caption])
        real_scores.append(float((embed_clips(pipe, [waves[i]]) * text).sum()))
        gen_scores.append(float((embed_clips(pipe, [out.audio[0]]) * text).sum()))
    report["clap_score"] = {
        "generated_mean": statistics.mean(gen_scores),
        "real_mean": statistics.mean(real_scores),
        "ratio": statistics.mean(gen_scores) / statistics.mean(real_scores),
        "clips": len(picked),
    }
    real_emb = embed_clips(pipe, waves).numpy().astype(np.float64)
    gen_emb = embed_clips(pipe, generated).numpy().astype(np.float64)
    report["fad_clap_audio"] = {
        "value": frechet_from_features(gen_emb, real_emb),
        "generated": len(generated),
        "reference": len(waves),
    }

    # Pitch on held-out instrument x note combinations.
    notes = [r for r in rows if r.get("meta", {}).get("kind") == "midi_note"]
    train_pairs = {
        (r["meta"]["program"], r["meta"]["pitch"])
        for r in load_rows(args.corpus, "train")
        if r.get("meta", {}).get("kind") == "midi_note"
    }
    unseen = [r for r in notes if (r["meta"]["program"], r["meta"]["pitch"]) not in train_pairs]
    chosen = rng.sample(unseen, min(args.notes, len(unseen)))
    hits, errors = 0, []
    for n, r in enumerate(chosen):
        out = pipe.generate(r["caption"], duration=3.0, seed=args.seed + n, **sampling)
        midi = pitch_of(out.audio[0], rate)
        error = abs(midi - r["meta"]["pitch"]) if midi is not None else None
        errors.append(error)
        hits += int(error is not None and error <= 1.0)
    report["pitch"] = {
        "prompts": len(chosen),
        "within_1_semitone": hits / max(1, len(chosen)),
        "unvoiced": sum(e is None for e in errors),
    }

    # Speed: 5 s end to end (model load excluded), median of 3.
    runs = []
    for n in range(3):
        t0 = time.perf_counter()
        pipe.generate("a sword clashing", duration=5.0, seed=n, **sampling)
        runs.append(time.perf_counter() - t0)
    report["speed"] = {
        "seconds_for_5s": statistics.median(runs),
        "threads": torch.get_num_threads(),
        "mean_5s_during_eval": statistics.mean(times),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
