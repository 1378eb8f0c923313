"""How much a model's VAE and vocoder keep of real held-out notes.

    python scripts/vae_roundtrip.py --corpus corpus --model MODEL [--model OTHER] [--notes 6]

For every 25th held-out note clip of the corpus' test split (first 3 s): log-mel L1 of the
VAE round trip (encode -> decode), and the median pYIN f0 (MIDI) of the clip, of the
vocoder fed the clip's own mel, and of the vocoder fed the VAE round trip. A VAE whose
reconstruction is noisy from frame to frame shows up as f0 ~ MIDI 40.8: the mel frame rate
(22050 / 256 = 86.1 Hz) turned into a buzz by the vocoder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import librosa
import numpy as np
import torch

from clapldm import AudioLDM
from clapldm.audio.io import read_audio


def median_pitch(wave: np.ndarray, rate: int) -> float | None:
    f0, voiced, _ = librosa.pyin(wave, fmin=65.0, fmax=2093.0, sr=rate)
    values = f0[voiced & np.isfinite(f0)]
    return round(float(librosa.hz_to_midi(np.median(values))), 1) if len(values) else None


@torch.no_grad()
def measure(pipe: AudioLDM, corpus: Path, rows: list[dict]) -> dict[str, object]:
    rate = pipe.sample_rate
    errors, notes = [], []
    for row in rows:
        wave = read_audio(corpus / row["path"], rate)[: 3 * rate]
        prepared = pipe.prepare_wave(torch.from_numpy(wave)[None])
        clip = prepared[0] if isinstance(prepared, tuple) else prepared
        latents = pipe.encode_audio(clip)
        mel = pipe.mel(clip, normalize=False)
        decoded = pipe.vae.decode(latents / pipe.vae.config.scale_factor)[:, 0]
        frames = min(mel.shape[1], decoded.shape[1])
        errors.append(float((decoded[:, :frames] - mel[:, :frames]).abs().mean()))
        vocoded = pipe.vocoder(mel).float()[0].numpy()
        round_trip = pipe.decode_latents(latents, len(wave))[0]
        notes.append(
            {
                "caption": row["caption"],
                "pitch": row["meta"]["pitch"],
                "clip": median_pitch(wave, rate),
                "vocoder": median_pitch(vocoded, rate),
                "vae_vocoder": median_pitch(round_trip, rate),
            }
        )
    return {"mel_l1": float(np.mean(errors)), "notes": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--model", action="append", default=None, help="repeatable")
    parser.add_argument("--notes", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = (args.corpus / "manifest_test.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    notes = [r for r in rows if r.get("meta", {}).get("kind") == "midi_note"][::25][: args.notes]
    for model in args.model or [None]:
        result = measure(AudioLDM.from_pretrained(model), args.corpus, notes)
        print(json.dumps({"model": model or "bundled", **result}, indent=1))


if __name__ == "__main__":
    main()
