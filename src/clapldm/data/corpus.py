"""Build the offline training corpus (``clapldm data build-corpus``).

Sources are Debian sound packages (fetched with ``apt-get download``, unpacked with
``dpkg -x``) and synthetic renders (fluidsynth + FluidR3_GM, espeak-ng, flite). Every clip is
converted to mono PCM_16 WAV at one sample rate under ``OUT/audio/<source>/``; silent, broken
and too-short clips are skipped, long ones cropped (or, for ambience, cut into segments of the
same item). ``OUT/manifest.jsonl`` holds one JSON object per clip::

    {"path": "audio/0ad-data/attack/impact/arrow_dirt_15.wav", "caption": "an arrow hits dirt",
     "captions": [...paraphrases], "source": "0ad-data", "package": "0ad-data",
     "license": "CC-BY-SA-3.0", "item": "0ad-data:attack/impact/arrow_dirt", "split": "train",
     "duration": 0.84, "sample_rate": 22050, "meta": {...}}

plus ``manifest_{train,valid,test}.jsonl`` and ``summary.json``. Splits are by item (no item
in two splits), seeded and stable when sources are added. The build is resumable: converted
clips and finished sources are reused, and the manifest is rewritten (atomically) after each
source so training can start on a partial corpus.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from clapldm.errors import DataError
from clapldm.fileio import atomic_path, write_text_atomic

SPLITS = ("train", "valid", "test")
MIN_SECONDS = 0.2
SILENCE_PEAK = 1e-3  # -60 dBFS
DEFAULT_FRACTIONS = {"valid": 0.05, "test": 0.05}


@dataclass
class CorpusSummary:
    out_dir: str
    clips: int
    hours: float
    per_source: dict[str, dict[str, float]] = field(default_factory=dict)
    per_split: dict[str, dict[str, float]] = field(default_factory=dict)
    sources_done: list[str] = field(default_factory=list)
    sources_failed: dict[str, str] = field(default_factory=dict)
    sample_rate: int = 22050

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def format(self) -> str:
        lines = [f"corpus {self.out_dir}: {self.clips} clips, {self.hours:.2f} h at {self.sample_rate} Hz"]
        for name, d in sorted(self.per_source.items(), key=lambda kv: -kv[1]["hours"]):
            lines.append(f"  {name:28s} {int(d['clips']):6d} clips {d['hours'] * 60:8.1f} min")
        lines.append("  splits: " + ", ".join(f"{s} {int(self.per_split.get(s, {}).get('clips', 0))} clips "
                                              f"({self.per_split.get(s, {}).get('hours', 0.0):.2f} h)" for s in SPLITS))
        if self.sources_failed:
            lines.append("  failed: " + "; ".join(f"{k}: {v}" for k, v in self.sources_failed.items()))
        return "\n".join(lines)


# --------------------------------------------------------------------------- audio conditioning
def write_wav(path: Path, y: np.ndarray, sr: int) -> None:
    """Mono PCM_16 WAV written atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        sf.write(temp, np.clip(y, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")


def decode(path: Path | None = None, data: bytes | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file or bytes to mono float32."""
    try:
        src: Any = io.BytesIO(data) if data is not None else str(path)
        y, sr = sf.read(src, dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile raises several types
        raise DataError(f"cannot decode {path or 'bytes'}: {e}") from e
    return y.mean(axis=1), sr


def condition(y: np.ndarray, sr: int, target_sr: int, trim: bool = True) -> np.ndarray | None:
    """Mono float at ``target_sr`` with leading/trailing silence trimmed; None if unusable."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim > 1:
        y = y.mean(axis=1)
    if y.size == 0 or not np.all(np.isfinite(y)):
        return None
    peak = float(np.max(np.abs(y)))
    if peak < SILENCE_PEAK:
        return None
    if sr != target_sr:
        y = soxr.resample(y, sr, target_sr, quality="HQ").astype(np.float32)
    need = int(MIN_SECONDS * target_sr)
    if len(y) < need:
        return None
    if not trim:
        return y
    thresh = max(SILENCE_PEAK * 0.5, 0.003 * peak)
    idx = np.flatnonzero(np.abs(y) > thresh)
    pad = int(0.02 * target_sr)
    start = max(0, idx[0] - pad)
    end = max(idx[-1] + pad + 1, start + need)  # a short click keeps its tail up to the minimum length
    end = min(end, len(y))
    start = min(start, end - need)
    return y[start:end]


def cut(y: np.ndarray, sr: int, max_s: float, allow_segments: bool, max_segments: int) -> list[tuple[float, np.ndarray]]:
    """[(start seconds, samples)] no longer than ``max_s``: one crop, or several segments of long ambience."""
    n = int(max_s * sr)
    if len(y) <= n:
        return [(0.0, y)]
    fade = np.linspace(1.0, 0.0, int(0.05 * sr), dtype=np.float32)

    def faded(x: np.ndarray) -> np.ndarray:
        x = x.copy()
        x[-len(fade):] *= fade
        return x

    if not allow_segments or len(y) < 1.5 * n:
        return [(0.0, faded(y[:n]))]
    out = []
    for i in range(min(max_segments, len(y) // n)):
        seg = y[i * n:(i + 1) * n]
        if np.max(np.abs(seg)) >= SILENCE_PEAK:
            out.append((i * max_s, faded(seg)))
    return out


# --------------------------------------------------------------------------- splits
def item_split(item: str, seed: int, fractions: dict[str, float] | None = None) -> str:
    """Seeded hash split of an item id; stable whatever other items exist."""
    fr = fractions or DEFAULT_FRACTIONS
    u = int(hashlib.sha256(f"{seed}:{item}".encode()).hexdigest()[:12], 16) / 16**12
    if u < fr["test"]:
        return "test"
    if u < fr["test"] + fr["valid"]:
        return "valid"
    return "train"


def assign_splits(records: list[dict], seed: int, fractions: dict[str, float] | None = None) -> None:
    """Set ``split`` on every record: by item hash, except MIDI single notes whose
    (instrument, pitch) combinations are held out so both parts stay seen in training."""
    from clapldm.data.sources.midi import heldout_combos

    fr = fractions or DEFAULT_FRACTIONS
    notes = [r for r in records if r.get("meta", {}).get("kind") == "midi_note"]
    combo_split = heldout_combos({(r["meta"]["program"], r["meta"]["pitch"]) for r in notes}, seed=seed,
                                 valid_frac=fr["valid"], test_frac=max(fr["test"], 0.1))
    for r in records:
        m = r.get("meta", {})
        if m.get("kind") == "midi_note":
            r["split"] = combo_split[(m["program"], m["pitch"])]
        else:
            r["split"] = item_split(r["item"], seed, fr)


# --------------------------------------------------------------------------- manifests
def _records_dir(out_dir: Path) -> Path:
    return out_dir / "records"


def load_records(out_dir: Path) -> list[dict]:
    recs = []
    for f in sorted(_records_dir(out_dir).glob("*.jsonl")):
        recs += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return recs


def summarize(records: list[dict], out_dir: Path, sample_rate: int) -> CorpusSummary:
    per_source: dict[str, dict[str, float]] = defaultdict(lambda: {"clips": 0, "hours": 0.0})
    per_split: dict[str, dict[str, float]] = {s: {"clips": 0, "hours": 0.0} for s in SPLITS}
    for r in records:
        for d in (per_source[r["source"]], per_split[r.get("split", "train")]):
            d["clips"] += 1
            d["hours"] += r["duration"] / 3600
    for d in list(per_source.values()) + list(per_split.values()):
        d["hours"] = round(d["hours"], 4)
    total_h = sum(r["duration"] for r in records) / 3600
    return CorpusSummary(str(out_dir), len(records), round(total_h, 4), dict(per_source), per_split,
                         sample_rate=sample_rate)


def write_manifests(out_dir: Path, seed: int, sample_rate: int, extra: dict | None = None) -> CorpusSummary:
    """(Re)write manifest.jsonl, manifest_{split}.jsonl and summary.json from the per-source records."""
    records = [r for r in load_records(out_dir) if (out_dir / r["path"]).is_file()]
    assign_splits(records, seed)
    records.sort(key=lambda r: r["path"])
    by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
    lines = []
    for r in records:
        line = json.dumps(r, ensure_ascii=False, sort_keys=False)
        lines.append(line)
        by_split[r["split"]].append(line)
    write_text_atomic(out_dir / "manifest.jsonl", "".join(x + "\n" for x in lines))
    for s in SPLITS:
        write_text_atomic(out_dir / f"manifest_{s}.jsonl", "".join(x + "\n" for x in by_split[s]))
    summary = summarize(records, out_dir, sample_rate)
    if extra:
        summary.sources_done = extra.get("done", [])
        summary.sources_failed = extra.get("failed", {})
    write_text_atomic(out_dir / "summary.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


# --------------------------------------------------------------------------- building
def _source_config(src, options: dict, sample_rate: int, max_clip_seconds: float, seed: int) -> dict:
    return {"sample_rate": sample_rate, "max_clip_seconds": max_clip_seconds, "seed": seed,
            **{k: options.get(k) for k in src.config_keys}}


def _existing_outputs(audio_dir: Path, key: str) -> list[Path]:
    """Converted files of a clip key: ``key.wav`` or consecutive segments ``key_s00.wav``, ``key_s01.wav``..."""
    one = audio_dir / f"{key}.wav"
    if one.is_file():
        return [one]
    out = []
    while (p := audio_dir / f"{key}_s{len(out):02d}.wav").is_file():
        out.append(p)
    return out


def _convert(spec, src_name: str, audio_dir: Path, out_dir: Path, sample_rate: int, max_s: float,
             max_segments: int, seen_md5: set[str], prev: dict[str, dict] | None = None) -> tuple[list[dict], str | None]:
    """Convert (or reuse) one clip spec; returns its records and a skip reason."""
    base = {"caption": spec.captions[0], "captions": spec.captions, "source": spec.source or src_name,
            "package": spec.package or src_name, "license": spec.license, "item": spec.item,
            "sample_rate": sample_rate}
    outs = _existing_outputs(audio_dir, spec.key)
    md5 = None
    if spec.path is not None or spec.data is not None:
        raw = spec.data if spec.data is not None else spec.path.read_bytes()
        md5 = hashlib.md5(raw).hexdigest()
        if md5 in seen_md5 and not outs:
            return [], "duplicate"
        seen_md5.add(md5)
    if outs and all(sf.info(str(o)).samplerate == sample_rate for o in outs):
        recs = []
        for i, o in enumerate(outs):
            meta = dict(spec.meta, **({"md5": md5} if md5 else {}))
            if len(outs) > 1 or o.stem.endswith("_s00"):
                meta.update(segment=i, segment_start=round(i * max_s, 3))
            old = (prev or {}).get(str(o.relative_to(out_dir)), {})
            meta.update({k: old[k] for k in ("cropped_from", "segment", "segment_start") if k in old})
            recs.append({"path": str(o.relative_to(out_dir)), **base, "duration": round(sf.info(str(o)).duration, 4),
                         "meta": meta})
        return recs, None
    if spec.audio is not None:
        y, sr = spec.audio, spec.sr or sample_rate
    elif spec.path is not None or spec.data is not None:
        try:
            y, sr = decode(spec.path, spec.data)
        except DataError:
            return [], "broken"
    else:
        return [], "no audio"
    y = condition(y, sr, sample_rate, trim=spec.trim)
    if y is None:
        return [], "silent or too short"
    pieces = cut(y, sample_rate, max_s, spec.allow_segments, max_segments)
    recs = []
    for i, (start, seg) in enumerate(pieces):
        name = f"{spec.key}.wav" if len(pieces) == 1 else f"{spec.key}_s{i:02d}.wav"
        path = audio_dir / name
        write_wav(path, seg, sample_rate)
        meta = dict(spec.meta, **({"md5": md5} if md5 else {}))
        if len(pieces) > 1:
            meta.update(segment=i, segment_start=round(start, 3))
        if len(y) > len(seg) and len(pieces) == 1:
            meta["cropped_from"] = round(len(y) / sample_rate, 3)
        recs.append({"path": str(path.relative_to(out_dir)), **base, "duration": round(len(seg) / sample_rate, 4),
                     "meta": meta})
    return recs, None


def build_corpus(out_dir: Path, *, sources: list[str] | None = None, sample_rate: int = 22050,
                 max_clip_seconds: float = 10.0, seed: int = 0, cache_dir: Path | None = None,
                 midi_notes: int = 2000, speech_lines: int = 600, drum_patterns: int = 300,
                 midi_phrases: int = 300, max_segments: int = 6, keep_debs: bool = False, force: bool = False,
                 progress: Callable[[str], None] | None = None,
                 registry: dict | None = None) -> CorpusSummary:
    """Build (or resume) the corpus in ``out_dir`` and return its summary.

    ``sources`` picks source names (default: all, small ones first). ``registry`` replaces the
    source table (tests use a fake source). ``force`` re-collects finished sources (converted
    clips are still reused). Debian packages are cached in ``cache_dir`` (default
    ``out_dir/.debs``); unpacked trees are always deleted after their source.
    """
    from clapldm.data.sources.base import SourceContext, fetch_deb, have_tool, unpack_deb
    from clapldm.data.sources.registry import SOURCES

    log = progress or (lambda msg: print(msg, flush=True))
    table = registry if registry is not None else SOURCES
    names = list(table) if not sources else list(sources)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise DataError(f"unknown corpus sources: {', '.join(unknown)} (known: {', '.join(table)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir else out_dir / ".debs"
    options = {"midi_notes": midi_notes, "speech_lines": speech_lines, "drum_patterns": drum_patterns,
               "midi_phrases": midi_phrases}
    rec_dir = _records_dir(out_dir)
    rec_dir.mkdir(exist_ok=True)
    seen_md5: set[str] = {r["meta"]["md5"] for r in load_records(out_dir) if r.get("meta", {}).get("md5")}
    done: list[str] = []
    failed: dict[str, str] = {}
    summary = None
    for name in names:
        src = table[name]
        cfg = _source_config(src, options, sample_rate, max_clip_seconds, seed)
        done_file = rec_dir / f"{name}.done.json"
        if not force and done_file.is_file() and json.loads(done_file.read_text()) == cfg \
                and (rec_dir / f"{name}.jsonl").is_file():
            log(f"[{name}] already built, skipping")
            done.append(name)
            continue
        missing = [t for t in src.tools if not have_tool(t)]
        if missing:
            failed[name] = f"missing tools: {', '.join(missing)}"
            log(f"[{name}] skipped: {failed[name]}")
            continue
        t0 = time.time()
        audio_dir = out_dir / "audio" / name
        unpack_root = cache_dir / "unpacked"
        roots: dict[str, Path] = {}
        try:
            for pkg in src.packages:
                deb = fetch_deb(pkg, cache_dir, log)
                log(f"[{name}] unpacking {deb.name}")
                roots[pkg] = unpack_deb(deb, unpack_root / pkg)
            tmp = out_dir / ".tmp" / name
            ctx = SourceContext(roots=roots, out_dir=out_dir, sample_rate=sample_rate, seed=seed, tmp_dir=tmp,
                                options=options, log=log,
                                is_done=lambda s, k, d=audio_dir: bool(_existing_outputs(d, k)))
            records: list[dict] = []
            skipped: dict[str, int] = defaultdict(int)
            prev_file = rec_dir / f"{name}.jsonl"
            prev = {r["path"]: r.get("meta", {}) for r in
                    (json.loads(x) for x in (prev_file.read_text().splitlines() if prev_file.is_file() else []))}
            for i, spec in enumerate(src.collect(ctx)):
                if not spec.captions:
                    skipped["no caption"] += 1
                    continue
                recs, why = _convert(spec, name, audio_dir, out_dir, sample_rate, max_clip_seconds, max_segments,
                                     seen_md5, prev)
                if why:
                    skipped[why] += 1
                records += recs
                if (i + 1) % 250 == 0:
                    log(f"[{name}] {i + 1} specs, {len(records)} clips so far")
            _prune(audio_dir, {out_dir / r["path"] for r in records})
            write_text_atomic(rec_dir / f"{name}.jsonl",
                               "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
            write_text_atomic(done_file, json.dumps(cfg))
            shutil.rmtree(tmp, ignore_errors=True)
            hours = sum(r["duration"] for r in records) / 3600
            log(f"[{name}] {len(records)} clips, {hours * 60:.1f} min in {time.time() - t0:.0f} s"
                + (f"; skipped {dict(skipped)}" if skipped else ""))
            done.append(name)
        except Exception as e:  # one broken source must not stop the others
            failed[name] = f"{type(e).__name__}: {e}"
            log(f"[{name}] FAILED: {failed[name]}")
        finally:
            for pkg, root in roots.items():
                shutil.rmtree(root, ignore_errors=True)
                if not keep_debs and name not in failed:
                    for deb in cache_dir.glob(f"{pkg}_*.deb"):
                        deb.unlink(missing_ok=True)
        summary = write_manifests(out_dir, seed, sample_rate, {"done": done, "failed": failed})
        log(f"  manifest: {summary.clips} clips, {summary.hours:.2f} h")
    if summary is None:
        summary = write_manifests(out_dir, seed, sample_rate, {"done": done, "failed": failed})
    log(summary.format())
    return summary


def _prune(audio_dir: Path, keep: set[Path]) -> None:
    """Delete converted files of a source that are no longer in its records (config changed)."""
    if not audio_dir.is_dir():
        return
    for p in audio_dir.rglob("*.wav"):
        if p not in keep:
            p.unlink(missing_ok=True)


# --------------------------------------------------------------------------- CLI
def main_build_corpus(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="clapldm data build-corpus", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="output folder (never inside the repository)")
    ap.add_argument("--sources", default=None, help="comma-separated source names (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=int, default=22050)
    ap.add_argument("--max-clip-seconds", type=float, default=10.0)
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--midi-notes", type=int, default=2000)
    ap.add_argument("--speech-lines", type=int, default=600)
    ap.add_argument("--drum-patterns", type=int, default=300)
    ap.add_argument("--midi-phrases", type=int, default=300)
    ap.add_argument("--keep-debs", action="store_true")
    ap.add_argument("--force", action="store_true", help="re-collect finished sources")
    ap.add_argument("--list-sources", action="store_true")
    args = ap.parse_args(list(argv) if argv is not None else None)
    if args.list_sources:
        from clapldm.data.sources.registry import SOURCES

        for name, s in SOURCES.items():
            print(f"{name:22s} {s.kind:9s} {' '.join(s.packages) or ' '.join(s.tools)}")
        return 0
    if args.out is None:
        ap.error("--out is required")
    try:
        build_corpus(args.out, sources=args.sources.split(",") if args.sources else None,
                     sample_rate=args.sample_rate, max_clip_seconds=args.max_clip_seconds, seed=args.seed,
                     cache_dir=args.cache_dir, midi_notes=args.midi_notes, speech_lines=args.speech_lines,
                     drum_patterns=args.drum_patterns, midi_phrases=args.midi_phrases, keep_debs=args.keep_debs,
                     force=args.force)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main_build_corpus())
