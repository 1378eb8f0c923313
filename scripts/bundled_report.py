"""Measure a model on the corpus' held-out test split (the bundled model card's figures).

    python scripts/bundled_report.py --corpus CORPUS [--model FOLDER] [--preset audioldm]
        [--clips 24] [--notes 24] [--pitch-clips 60] [--natural 24] [--json out.json]
    python scripts/bundled_report.py --speed-only [--model FOLDER] [--preset audioldm]

Figures (every count is an option, so one run fits a time budget; the JSON records them):

- ``retrieval``: CLAP text -> audio recall@1 / @10, each test caption against every test clip.
- ``clap_pitch_pick``: for test clips of rendered notes, 25 captions (the clip's caption
  with its note name replaced by each note from pitch-12 to pitch+12); CLAP picks the one
  most similar to the audio; hits within 1 semitone (chance 3/25).
- ``clap_score``: CLAP score of clips generated from test captions over that of the real
  clips with the same captions.
- ``fad_clap_audio``: Fréchet distance, generated vs real test clips, CLAP audio tower.
- ``fd_aisfx``: the same on aiSFX embeddings (``clapldm.eval.aisfx``, the ``fd[aisfx]``
  backbone of ``clapldm eval``); real clips are first resampled to the model's rate, so
  both sides have the same band.
- ``held_out_prompts``: hand-written prompts (``NATURAL_PROMPTS``) for categories the
  corpus covers, worded unlike its caption templates (checked: none is a corpus caption);
  mean CLAP score of their generated clips against the mean of real test clips with their
  own captions.
- ``pitch`` / ``pitch_reworded``: instrument x note pairs of the test split never seen in
  training; median pYIN f0 of the generated clip within 1 semitone of the asked note. The
  same pairs are asked with the corpus' caption (``pitch``) and reworded with templates the
  corpus does not use (``pitch_reworded``, ``REWORDED_TEMPLATES``; each prompt's note
  wording is parsed back to MIDI by ``note_to_midi`` and checked against the pair's pitch).
- ``speed``: wall time to generate 5 s, model load excluded, median of 3, with the CPU time
  other processes used meanwhile (``others_cores``): above 0.25 the figure is labelled
  ``contended`` (taken while other work ran).

Sampling: the model's defaults, or ``--preset audioldm`` (DDIM 200, eta 1, 3 candidates
ranked by the model's CLAP, as the original package) / ``--preset fast``; ``--sampler``,
``--steps``, ``--guidance``, ``--eta``, ``--candidates`` override. With candidates > 1 the
kept clip is the one the model's own CLAP ranks best, which raises the CLAP-based figures.

On a shared machine, run the figures with OMP_NUM_THREADS=1 and ``--no-speed``, and the
speed alone (``--speed-only``) at 2 threads: with other work on both cores, 2 OpenMP
threads spin-wait for each other (retrieval over 441 clips: 29 s at 1 thread, 5 min at
2, measured here beside the training); the figures themselves do not depend on threads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import soxr
import torch

from clapldm import AudioLDM
from clapldm.audio.io import read_audio
from clapldm.eval.aisfx import AISFX_SAMPLE_RATE, aisfx_file_embedding, load_aisfx
from clapldm.eval.metrics import frechet_from_features
from clapldm.request import PRESETS

# ----------------------------------------------------------------------- note names
# The corpus names notes with sharps and scientific octaves: MIDI 60 = C4, 61 = C#4.
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
SPOKEN_CLASSES = {name: name.replace("#", " sharp") for name in PITCH_CLASSES}  # "F sharp"


def midi_to_note(pitch: int) -> str:
    """MIDI number -> the corpus' note name: 60 -> "C4", 70 -> "A#4"."""
    return f"{PITCH_CLASSES[pitch % 12]}{pitch // 12 - 1}"


def note_to_midi(text: str) -> int:
    """A note as the prompts below word it -> MIDI: "C4", "A#4", "F sharp 3", "middle C"."""
    if text == "middle C":
        return 60
    match = re.fullmatch(r"([A-G])(#| sharp)? ?(-?\d)", text)
    if match is None:
        raise ValueError(f"not a note name: {text!r}")
    letter, sharp, octave = match.groups()
    return (int(octave) + 1) * 12 + PITCH_CLASSES.index(letter) + (1 if sharp else 0)


# --------------------------------------------------------------- held-out prompts
# Written by hand for the categories the corpus covers, in words its caption templates do
# not use ("a piano plays B4, loud", "the sound of ...", "... (sound effect)", "a user
# interface sound: ...", "a man says '...'"). `main` refuses to run if one is a corpus caption.
NATURAL_PROMPTS = (
    # game sound effects
    "two steel blades ringing against each other in a duel",
    "a horse whinnies and then gallops off",
    "an axe biting into a tree trunk again and again",
    "a pickaxe chipping away at a rock wall",
    "a sci-fi blaster firing a quick burst",
    "a small explosion followed by falling debris",
    "heavy boots crunching along a gravel path",
    "an old wooden door creaking slowly open",
    # interface sounds
    "a cheerful little ding when a new email arrives",
    "the click of a mouse button on a menu",
    "a low descending buzz telling you something went wrong",
    "a soft swoosh as an app window slides away",
    # drums
    "someone smacks a snare drum once, hard",
    "a crash cymbal struck and left to ring out",
    "a steady rock groove on a full drum set",
    "a single deep kick drum thump",
    # instruments
    "a lone violin drawing out one long sad note",
    "someone strumming a chord on a nylon guitar",
    "a saxophone noodling a short jazzy tune",
    "a church organ holding a low chord",
    # speech
    "an old man muttering good morning to himself",
    "a young woman counting from one to five",
    "a robot voice announcing that the system is ready",
    "a woman whispering thank you",
)

# Instrument x note prompts worded unlike the corpus' five templates ("a piano plays B4,
# loud", "a loud piano note, B4", "a piano playing the note B4 loudly", "a single middle
# piano note (B4), played loudly", "B4 played loudly on a piano"). {note} is the corpus'
# name (G3, C#4), {spoken} the same in words (C sharp 4); pitch 60 is also "middle C".
REWORDED_TEMPLATES = (
    "{article} {instrument} holding the note {note}",
    "one long {spoken} from {article} {instrument}",
    "{article} {instrument} sounding a sustained {note}",
    "the pitch {spoken}, performed on {article} {instrument}",
)
MIDDLE_C_TEMPLATE = "middle C on {article} {instrument}"


def article_for(instrument: str) -> str:
    return "an" if instrument[0] in "aeiou" else "a"


def reworded_prompt(instrument: str, pitch: int, index: int) -> tuple[str, str]:
    """(prompt, the note as worded in it) for the index-th unseen pair."""
    name = midi_to_note(pitch)
    pitch_class, octave = PITCH_CLASSES[pitch % 12], pitch // 12 - 1
    spoken = f"{SPOKEN_CLASSES[pitch_class]} {octave}" if "#" in pitch_class else name
    if pitch == 60 and index % 2 == 0:
        return MIDDLE_C_TEMPLATE.format(article=article_for(instrument), instrument=instrument), (
            "middle C"
        )
    template = REWORDED_TEMPLATES[index % len(REWORDED_TEMPLATES)]
    worded = spoken if "{spoken}" in template else name
    prompt = template.format(
        article=article_for(instrument), instrument=instrument, note=name, spoken=spoken
    )
    return prompt, worded


# --------------------------------------------------------------------------- helpers
def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load_rows(corpus: Path, split: str) -> list[dict]:
    path = corpus / f"manifest_{split}.jsonl"
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def all_captions(corpus: Path) -> set[str]:
    """Every caption and paraphrase in the corpus (all splits), lower-cased."""
    captions = set()
    for split in ("train", "valid", "test"):
        for row in load_rows(corpus, split):
            for text in [row.get("caption", ""), *row.get("captions", [])]:
                captions.add(text.strip().lower())
    return captions


@torch.no_grad()
def embed_clips(pipe: AudioLDM, waves: list[np.ndarray]) -> torch.Tensor:
    return torch.cat([pipe.embed_audio(torch.from_numpy(w)[None], pipe.sample_rate) for w in waves])


@torch.no_grad()
def embed_texts(pipe: AudioLDM, texts: list[str], batch: int = 64) -> torch.Tensor:
    return torch.cat([pipe.embed_text(texts[i : i + batch]) for i in range(0, len(texts), batch)])


def clap_scores(pipe: AudioLDM, texts: list[str], waves: list[np.ndarray]) -> list[float]:
    """cosine(text_i, audio_i) for each pair."""
    return (embed_texts(pipe, texts) * embed_clips(pipe, waves)).sum(dim=1).tolist()


def pitch_of(wave: np.ndarray, rate: int) -> float | None:
    """Median pYIN f0 of the voiced frames, as a (fractional) MIDI number; None if unvoiced."""
    f0, voiced, _ = librosa.pyin(
        wave, fmin=librosa.note_to_hz("C1"), fmax=librosa.note_to_hz("C7"), sr=rate
    )
    values = f0[voiced & np.isfinite(f0)]
    return float(librosa.hz_to_midi(np.median(values))) if len(values) else None


class CpuWatch:
    """Wall time, this process' CPU time and the CPU time of everything else on the machine."""

    def __init__(self) -> None:
        self.wall, self.own, self.total = time.perf_counter(), time.process_time(), _busy_cpu()

    def others_cores(self) -> float | None:
        """Cores other processes kept busy on average since construction (None off Linux)."""
        total = _busy_cpu()
        if total is None or self.total is None:
            return None
        wall = time.perf_counter() - self.wall
        others = (total - self.total) - (time.process_time() - self.own)
        return max(0.0, others / wall)


def _busy_cpu() -> float | None:
    """Seconds of CPU time the whole machine spent busy since boot (/proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------- figures
def retrieval(similarity: torch.Tensor) -> dict[str, float]:
    """Text -> audio recall@k: each caption must find its own clip among all test clips."""
    ranks = (similarity > similarity.diag()[:, None]).sum(dim=1)  # clips scoring above it
    return {
        "clips": similarity.shape[0],
        "recall@1": float((ranks < 1).float().mean()),
        "recall@10": float((ranks < 10).float().mean()),
        "chance@10": min(1.0, 10 / similarity.shape[0]),
    }


def clap_pitch_pick(
    pipe: AudioLDM, notes: list[dict], audio: torch.Tensor, semitones: int = 12
) -> dict[str, Any]:
    """CLAP picks each note clip's caption among its note name swapped for pitch +-12."""
    hits, exact, chance, errors = 0, 0, [], []
    for row, clip in zip(notes, audio, strict=True):
        pitch, note = row["meta"]["pitch"], row["meta"]["note"]
        if midi_to_note(pitch) != note:
            raise SystemExit(f"note naming differs from the corpus: {note} is MIDI {pitch}")
        pattern = re.compile(rf"(?<![\w#]){re.escape(note)}(?![\w#])")
        if len(pattern.findall(row["caption"])) != 1:
            raise SystemExit(f"caption does not name {note} once: {row['caption']!r}")
        candidates = [p for p in range(pitch - semitones, pitch + semitones + 1) if 0 <= p < 128]
        captions = [pattern.sub(midi_to_note(p), row["caption"]) for p in candidates]
        picked = candidates[int((embed_texts(pipe, captions) @ clip).argmax())]
        errors.append(abs(picked - pitch))
        hits += int(abs(picked - pitch) <= 1)
        exact += int(picked == pitch)
        chance.append(sum(abs(p - pitch) <= 1 for p in candidates) / len(candidates))
    return {
        "clips": len(notes),
        "candidates": 2 * semitones + 1,
        "within_1_semitone": hits,
        "within_1_semitone_rate": hits / max(1, len(notes)),
        "exact": exact,
        "chance_within_1_rate": statistics.mean(chance) if chance else None,
        "median_error_semitones": statistics.median(errors) if errors else None,
    }


def aisfx_embeddings(embedder: Any, waves: list[np.ndarray], rate: int) -> np.ndarray:
    """(N, 512) float64: each wave resampled from ``rate`` to 44.1 kHz, then embedded."""
    rows = []
    for wave in waves:
        wave_44k = soxr.resample(wave.astype(np.float64), rate, AISFX_SAMPLE_RATE, "HQ")
        rows.append(aisfx_file_embedding(embedder, torch.from_numpy(wave_44k.astype(np.float32))))
    return torch.stack(rows).double().numpy()


def pitch_figure(
    generate: Callable[..., Any], prompts: list[str], pitches: list[int], rate: int, seed: int
) -> dict[str, Any]:
    """Generate 3 s for each prompt; median pYIN f0 within 1 semitone of its pitch."""
    hits, rows = 0, []
    for n, (prompt, pitch) in enumerate(zip(prompts, pitches, strict=True)):
        out = generate(prompt, duration=3.0, seed=seed + n)
        midi = pitch_of(out.audio[0], rate)
        error = abs(midi - pitch) if midi is not None else None
        hits += int(error is not None and error <= 1.0)
        rows.append({"prompt": prompt, "pitch": pitch, "f0_midi": midi})
    return {
        "prompts": len(prompts),
        "within_1_semitone": hits,
        "within_1_semitone_rate": hits / max(1, len(prompts)),
        "unvoiced": sum(r["f0_midi"] is None for r in rows),
        "items": rows,
    }


def speed_figure(generate: Callable[..., Any]) -> dict[str, Any]:
    """5 s of audio end to end (model load excluded), median of 3, with the machine's load."""
    generate("a sword clashing", duration=5.0, seed=99)  # warm-up: first-use loads
    watch = CpuWatch()
    runs = []
    for n in range(3):
        t0 = time.perf_counter()
        generate("a sword clashing", duration=5.0, seed=n)
        runs.append(time.perf_counter() - t0)
    others = watch.others_cores()
    return {
        "seconds_for_5s": statistics.median(runs),
        "runs": runs,
        "threads": torch.get_num_threads(),
        "others_cores": None if others is None else round(others, 2),
        "contended": None if others is None else others > 0.25,
        "loadavg": list(os.getloadavg()),
    }


# ------------------------------------------------------------------------------- main
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="corpus folder (manifest_{split}.jsonl)")
    parser.add_argument("--model", default=None, help="model folder (default: the bundled one)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    parser.add_argument("--sampler", default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    parser.add_argument("--eta", type=float, default=None)
    parser.add_argument("--candidates", type=int, default=None)
    parser.add_argument("--clips", type=int, default=60, help="test captions to generate")
    parser.add_argument("--notes", type=int, default=40, help="unseen instrument-note pairs")
    parser.add_argument("--pitch-clips", type=int, default=60, help="note clips for the pick")
    parser.add_argument("--natural", type=int, default=len(NATURAL_PROMPTS))
    parser.add_argument(
        "--aisfx-reference", type=int, default=0, help="real clips for fd_aisfx (0: all)"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="longest generated clip")
    parser.add_argument("--speed-only", action="store_true", help="only the speed figure")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed figure")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.corpus is None and not args.speed_only:
        parser.error("--corpus is required (unless --speed-only)")
    return args


def sampling_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = PRESETS[args.preset].params() if args.preset else {}
    overrides = {
        "sampler": args.sampler,
        "steps": args.steps,
        "guidance_scale": args.guidance,
        "eta": args.eta,
        "candidates": args.candidates,
    }
    params.update({k: v for k, v in overrides.items() if v is not None})
    return params


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    started = time.perf_counter()

    t0 = time.perf_counter()
    pipe = AudioLDM.from_pretrained(args.model)
    load_seconds = time.perf_counter() - t0
    params = sampling_params(args)

    def generate(prompt: str, **kwargs: Any) -> Any:
        return pipe.generate(prompt, **params, **kwargs)

    probe = generate("a sword clashing", duration=1.0, seed=0)
    keys = ("sampler", "steps", "guidance_scale", "eta", "candidates", "precision")
    sampling = {k: probe.settings[k] for k in keys if k in probe.settings}
    report: dict[str, Any] = {
        "model": pipe.name,
        "model_path": args.model,
        "preset": args.preset,
        "sampling": sampling,
        "load_seconds": round(load_seconds, 2),
        "threads": torch.get_num_threads(),
        "seed": args.seed,
        "command": " ".join(sys.argv),
    }
    log(f"model {pipe.name} loaded in {load_seconds:.2f} s; sampling {sampling}")
    if args.speed_only:
        report["speed"] = speed_figure(generate)
        finish(report, args, started)
        return

    rate = pipe.sample_rate
    rows = load_rows(args.corpus, "test")
    waves = [read_audio(args.corpus / r["path"], rate)[: int(10 * rate)] for r in rows]
    report["counts"] = {
        "test_clips": len(rows),
        "clips": args.clips,
        "notes": args.notes,
        "pitch_clips": args.pitch_clips,
        "natural": args.natural,
        "aisfx_reference": args.aisfx_reference or len(rows),
    }

    # Real test clips: CLAP retrieval, their own CLAP score, the pitch pick.
    audio = embed_clips(pipe, waves)
    similarity = embed_texts(pipe, [r["caption"] for r in rows]) @ audio.T
    report["retrieval"] = retrieval(similarity)
    real_own_scores = similarity.diag().tolist()
    log(f"retrieval {report['retrieval']}")
    note_index = [i for i, r in enumerate(rows) if r.get("meta", {}).get("kind") == "midi_note"]
    note_index = sorted(rng.sample(note_index, min(args.pitch_clips, len(note_index))))
    report["clap_pitch_pick"] = clap_pitch_pick(
        pipe, [rows[i] for i in note_index], audio[note_index]
    )
    log(f"pitch pick {report['clap_pitch_pick']}")
    save(report, args, started, complete=False)

    # Generated from test captions: CLAP score ratio, FAD on CLAP, FD on aiSFX.
    picked = rng.sample(range(len(rows)), min(args.clips, len(rows)))
    generated, times = [], []
    for n, i in enumerate(picked):
        duration = float(min(max(rows[i].get("duration", args.seconds), 1.0), args.seconds))
        t0 = time.perf_counter()
        generated.append(generate(rows[i]["caption"], duration=duration, seed=args.seed + n))
        times.append((time.perf_counter() - t0) / duration * 5.0)
    captions = [rows[i]["caption"] for i in picked]
    gen_scores = clap_scores(pipe, captions, [out.audio[0] for out in generated])
    real_scores = [real_own_scores[i] for i in picked]
    report["clap_score"] = {
        "generated_mean": statistics.mean(gen_scores),
        "real_mean": statistics.mean(real_scores),
        "ratio": statistics.mean(gen_scores) / statistics.mean(real_scores),
        "clips": len(picked),
    }
    gen_waves = [out.audio[0] for out in generated]
    report["fad_clap_audio"] = {
        "value": frechet_from_features(
            embed_clips(pipe, gen_waves).double().numpy(), audio.double().numpy()
        ),
        "generated": len(gen_waves),
        "reference": len(waves),
    }
    log(f"clap score {report['clap_score']}; fad {report['fad_clap_audio']['value']:.4f}")
    embedder = load_aisfx()
    reference = list(range(len(waves)))
    if args.aisfx_reference:
        reference = sorted(rng.sample(reference, min(args.aisfx_reference, len(waves))))
    t0 = time.perf_counter()
    real_aisfx = aisfx_embeddings(embedder, [waves[i] for i in reference], rate)
    gen_aisfx = aisfx_embeddings(embedder, gen_waves, rate)
    report["fd_aisfx"] = {
        "value": frechet_from_features(gen_aisfx, real_aisfx),
        "generated": len(gen_waves),
        "reference": len(reference),
        "detail": "fd[aisfx] of clapldm eval; real clips resampled to the model's rate first",
        "seconds": round(time.perf_counter() - t0, 1),
    }
    log(f"fd aisfx {report['fd_aisfx']}")
    save(report, args, started, complete=False)

    # Held-out natural prompts.
    corpus_captions = all_captions(args.corpus)
    natural = list(NATURAL_PROMPTS[: args.natural])
    verbatim = [p for p in natural if p.lower() in corpus_captions]
    if verbatim:
        raise SystemExit(f"held-out prompts found among the corpus captions: {verbatim}")
    outs = [generate(p, duration=args.seconds, seed=args.seed + n) for n, p in enumerate(natural)]
    natural_scores = clap_scores(pipe, natural, [out.audio[0] for out in outs])
    report["held_out_prompts"] = {
        "prompts": len(natural),
        "generated_mean": statistics.mean(natural_scores),
        "real_test_mean": statistics.mean(real_own_scores),
        "ratio": statistics.mean(natural_scores) / statistics.mean(real_own_scores),
        "real_test_clips": len(real_own_scores),
        "scores": dict(zip(natural, natural_scores, strict=True)),
    }
    log(f"held-out prompts ratio {report['held_out_prompts']['ratio']:.3f}")
    save(report, args, started, complete=False)

    # Pitch on unseen instrument x note pairs: the corpus' wording, then reworded.
    train_pairs = {
        (r["meta"]["program"], r["meta"]["pitch"])
        for r in load_rows(args.corpus, "train")
        if r.get("meta", {}).get("kind") == "midi_note"
    }
    unseen: dict[tuple[int, int], dict] = {}
    for r in rows:
        meta = r.get("meta", {})
        pair = (meta.get("program"), meta.get("pitch"))
        if meta.get("kind") == "midi_note" and pair not in train_pairs:
            unseen.setdefault(pair, r)
    chosen = rng.sample(
        sorted(unseen.values(), key=lambda r: r["path"]), min(args.notes, len(unseen))
    )
    pitches = [r["meta"]["pitch"] for r in chosen]
    report["pitch"] = pitch_figure(
        generate, [r["caption"] for r in chosen], pitches, rate, args.seed
    )
    log(f"pitch (corpus wording) {report['pitch']['within_1_semitone']}/{len(chosen)}")
    save(report, args, started, complete=False)
    reworded = []
    for n, r in enumerate(chosen):
        prompt, worded = reworded_prompt(r["meta"]["instrument"], r["meta"]["pitch"], n)
        if note_to_midi(worded) != r["meta"]["pitch"] or prompt.lower() in corpus_captions:
            raise SystemExit(
                f"reworded prompt {prompt!r} does not ask for MIDI {r['meta']['pitch']}"
            )
        reworded.append(prompt)
    report["pitch_reworded"] = pitch_figure(generate, reworded, pitches, rate, args.seed)
    log(f"pitch (reworded) {report['pitch_reworded']['within_1_semitone']}/{len(chosen)}")
    save(report, args, started, complete=False)

    if not args.no_speed:
        report["speed"] = speed_figure(generate)
        report["speed"]["mean_5s_during_eval"] = statistics.mean(times)
    finish(report, args, started)


def save(report: dict[str, Any], args: argparse.Namespace, started: float, complete: bool) -> str:
    """Write the report so far to --json (after every figure: a long run keeps its part)."""
    report["complete"] = complete
    report["run_seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=2)
    if args.json:
        tmp = args.json.with_name(f".{args.json.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(args.json)
    return text


def finish(report: dict[str, Any], args: argparse.Namespace, started: float) -> None:
    print(save(report, args, started, complete=True))


if __name__ == "__main__":
    main()
