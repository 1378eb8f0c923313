"""Teach the bundled model one sound family with a LoRA, and measure what it changed.

    python scripts/lora_demo.py prepare --family hydrogen-drumkits/ForzeeStereo --work W
    python scripts/lora_demo.py score --work W --label before
    clapldm preencode --init bundled --data W/train --out W/pre
    clapldm train ldm --init bundled --data W/pre --out W/run --lora-rank 8 ...
    clapldm export W/run -o W/adapter
    python scripts/lora_demo.py score --work W --label after --lora W/adapter
    python scripts/lora_demo.py report --work W --picture docs/lora_demo.png

`prepare` takes the family's clips from the corpus manifest (a path prefix under
``audio/``), shuffles them with seed 0, links up to ``--train`` of them into ``W/train``
(a plain folder: no manifest, no captions) and keeps up to ``--heldout`` others as the
reference set. `score` generates one clip per held-out caption (text prompt) and one per
training clip used as an audio prompt, with fixed seeds and each reference's duration,
and computes Fréchet distances between the generated and held-out sets on the bundled
CLAP audio tower and, when the ``aisfx`` package is installed, on aiSFX embeddings.
`report` prints the table and draws held-out / before / after spectrograms.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clapldm import AudioLDM
from clapldm.adapters import folder_size_mb
from clapldm.audio.io import read_audio, to_mono_resampled, write_audio
from clapldm.audio.mel import MelFrontEnd
from clapldm.config import MelConfig
from clapldm.eval.metrics import frechet_from_features

CORPUS = Path("/work/corpus")
MIN_SECONDS, MAX_SECONDS = 0.5, 5.0
AISFX_RATE = 44100


def prepare(args: argparse.Namespace) -> None:
    work = Path(args.work)
    rows = [json.loads(line) for line in (CORPUS / "manifest.jsonl").open(encoding="utf-8")]
    prefix = f"audio/{args.family.strip('/')}/"
    family = sorted((r for r in rows if r["path"].startswith(prefix)), key=lambda r: r["path"])
    if len(family) < args.train + 8:
        raise SystemExit(f"{args.family}: only {len(family)} clips")
    order = np.random.default_rng(0).permutation(len(family))
    train = [family[i] for i in order[: args.train]]
    heldout = [family[i] for i in order[args.train : args.train + args.heldout]]
    (work / "train").mkdir(parents=True, exist_ok=True)
    for row in train:
        link = work / "train" / Path(row["path"]).name
        if not link.exists():
            link.symlink_to(CORPUS / row["path"])
    plan = {
        "family": args.family,
        "clips_in_family": len(family),
        "train": [r["path"] for r in train],
        "heldout": [{"path": r["path"], "caption": r["caption"]} for r in heldout],
    }
    (work / "plan.json").write_text(json.dumps(plan, indent=1), encoding="utf-8")
    print(
        f"{len(family)} clips: {len(train)} to train on in {work / 'train'}, {len(heldout)} held out"
    )


def clip_seconds(wave: np.ndarray, rate: int) -> float:
    return float(min(MAX_SECONDS, max(MIN_SECONDS, len(wave) / rate)))


def generate_set(pipe: AudioLDM, plan: dict[str, Any], out: Path) -> dict[str, list[np.ndarray]]:
    """Text-prompted clips (one per held-out caption) and audio-prompted clips (one per
    training clip), seeds 0, 1, ...; written to ``out`` as WAV."""
    rate = pipe.sample_rate
    made: dict[str, list[np.ndarray]] = {"text": [], "audio": []}
    for index, item in enumerate(plan["heldout"]):
        reference = read_audio(CORPUS / item["path"], rate)
        result = pipe.generate(item["caption"], duration=clip_seconds(reference, rate), seed=index)
        made["text"].append(result.audio[0])
        write_audio(out / f"text_{index:03d}.wav", result.audio[0], rate)
    for index, path in enumerate(plan["train"][: len(plan["heldout"])]):
        prompt = read_audio(CORPUS / path, rate)
        result = pipe.generate(
            None,
            audio_prompt=prompt,
            audio_prompt_sample_rate=rate,
            duration=clip_seconds(prompt, rate),
            seed=1000 + index,
        )
        made["audio"].append(result.audio[0])
        write_audio(out / f"audio_{index:03d}.wav", result.audio[0], rate)
    return made


def embedders(pipe: AudioLDM) -> dict[str, Any]:
    """name -> function (samples,) at the model rate -> (D,) embedding."""
    rate = pipe.sample_rate

    def clap(wave: np.ndarray) -> np.ndarray:
        return pipe.embed_audio(torch.from_numpy(wave)[None], rate)[0].cpu().numpy()

    found: dict[str, Any] = {f"CLAP audio ({pipe.name})": clap}
    try:
        from clapldm.models.aisfx import AisfxEmbedder, load_aisfx_trunk

        network = AisfxEmbedder(load_aisfx_trunk()).eval()

        def aisfx(wave: np.ndarray) -> np.ndarray:
            wave_44k = to_mono_resampled(wave, rate, AISFX_RATE)
            with torch.no_grad():
                return network(torch.from_numpy(wave_44k)[None].float())[0].numpy()

        found["aiSFX"] = aisfx
    except Exception as exc:  # noqa: BLE001 - the package is optional
        print(f"aiSFX not available ({exc}); CLAP only")
    return found


def frechet(embed: Any, clips: list[np.ndarray], reference: list[np.ndarray]) -> float:
    return float(
        frechet_from_features(
            np.stack([embed(c) for c in clips]), np.stack([embed(c) for c in reference])
        )
    )


def score(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    work = Path(args.work)
    plan = json.loads((work / "plan.json").read_text(encoding="utf-8"))
    pipe = AudioLDM.from_pretrained(args.model)
    for spec in args.lora or []:
        path, _, scale = spec.partition(":")
        pipe.load_lora(path, scale=float(scale or 1.0))
    out = work / args.label
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    made = generate_set(pipe, plan, out)
    seconds = time.perf_counter() - started
    rate = pipe.sample_rate
    heldout = [read_audio(CORPUS / item["path"], rate) for item in plan["heldout"]]
    train = [read_audio(CORPUS / path, rate) for path in plan["train"]]
    results: dict[str, Any] = {"label": args.label, "lora": args.lora or [], "seconds": seconds}
    for name, embed in embedders(pipe).items():
        results[name] = {
            "text": frechet(embed, made["text"], heldout),
            "audio": frechet(embed, made["audio"], heldout),
            "train clips (real)": frechet(embed, train, heldout),
        }
    (work / f"scores_{args.label}.json").write_text(json.dumps(results, indent=1), "utf-8")
    print(json.dumps(results, indent=1))


def report(args: argparse.Namespace) -> None:
    work = Path(args.work)
    plan = json.loads((work / "plan.json").read_text(encoding="utf-8"))
    before = json.loads((work / "scores_before.json").read_text(encoding="utf-8"))
    after = json.loads((work / "scores_after.json").read_text(encoding="utf-8"))
    count = len(plan["heldout"])
    print(
        f"family {plan['family']}: {len(plan['train'])} clips trained on, {count} held out; "
        f"FD to the held-out clips ({count} generated per row; lower is closer)\n"
    )
    print("| embedding | prompt | bundled | bundled + LoRA | real training clips |")
    print("|---|---|---:|---:|---:|")
    for name, rows in before.items():
        if not isinstance(rows, dict):
            continue
        for prompt in ("text", "audio"):
            print(
                f"| {name} | {prompt} | {rows[prompt]:.3f} | {after[name][prompt]:.3f} "
                f"| {rows['train clips (real)']:.3f} |"
            )
    for spec in after.get("lora", []):
        path = spec.partition(":")[0]
        print(f"\nadapter {path}: {folder_size_mb(path):.2f} MB")
    if args.picture:
        picture(work, plan, Path(args.picture), args.examples)


def picture(work: Path, plan: dict[str, Any], path: Path, examples: int) -> None:
    """Rows: held-out clips; columns: the clip, the bundled model's and the adapted
    model's generation for its caption (same seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clapldm.fileio import atomic_path

    pipe_rate = 22050
    mel = MelFrontEnd(MelConfig(sample_rate=pipe_rate, hop_length=256, n_mels=80, f_max=8000.0))
    fig, axes = plt.subplots(examples, 3, figsize=(10, 2.2 * examples), squeeze=False)
    for row in range(examples):
        item = plan["heldout"][row]
        clips = [
            (f"held out: {item['caption']}", read_audio(CORPUS / item["path"], pipe_rate)),
            ("bundled", read_audio(work / "before" / f"text_{row:03d}.wav", pipe_rate)),
            ("bundled + LoRA", read_audio(work / "after" / f"text_{row:03d}.wav", pipe_rate)),
        ]
        for column, (title, wave) in enumerate(clips):
            with torch.no_grad():
                spec = mel(torch.from_numpy(wave)[None])[0].numpy()
            ax = axes[row][column]
            ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", vmin=-11.5, vmax=2)
            ax.set_title(title, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    print(f"picture: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--family", required=True, help="path prefix under the corpus's audio/")
    p.add_argument("--work", required=True)
    p.add_argument("--train", type=int, default=50)
    p.add_argument("--heldout", type=int, default=40)
    p.set_defaults(func=prepare)
    p = sub.add_parser("score")
    p.add_argument("--work", required=True)
    p.add_argument("--label", required=True)
    p.add_argument("--model", default=None)
    p.add_argument("--lora", action="append", default=None, metavar="ADAPTER[:SCALE]")
    p.set_defaults(func=score)
    p = sub.add_parser("report")
    p.add_argument("--work", required=True)
    p.add_argument("--picture", default=None)
    p.add_argument("--examples", type=int, default=3)
    p.set_defaults(func=report)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.func(args)


if __name__ == "__main__":
    main()
