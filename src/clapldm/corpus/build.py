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
import functools
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

from clapldm.corpus.sources.base import (
    ClipSpec,
    Source,
    SourceContext,
    fetch_deb,
    have_tool,
    unpack_deb,
)
from clapldm.corpus.sources.midi import heldout_combos
from clapldm.corpus.sources.registry import SOURCES
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
        lines = [
            f"corpus {self.out_dir}: {self.clips} clips, {self.hours:.2f} h "
            f"at {self.sample_rate} Hz"
        ]
        for name, totals in sorted(self.per_source.items(), key=lambda kv: -kv[1]["hours"]):
            lines.append(
                f"  {name:28s} {int(totals['clips']):6d} clips {totals['hours'] * 60:8.1f} min"
            )
        lines.append(
            "  splits: "
            + ", ".join(
                f"{split} {int(self.per_split.get(split, {}).get('clips', 0))} clips "
                f"({self.per_split.get(split, {}).get('hours', 0.0):.2f} h)"
                for split in SPLITS
            )
        )
        if self.sources_failed:
            lines.append(
                "  failed: "
                + "; ".join(f"{source}: {reason}" for source, reason in self.sources_failed.items())
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------- audio conditioning
def write_wav(path: Path, samples: np.ndarray, sr: int) -> None:
    """Mono PCM_16 WAV written atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temp:
        sf.write(temp, np.clip(samples, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")


def decode(path: Path | None = None, data: bytes | None = None) -> tuple[np.ndarray, int]:
    """Decode an audio file or bytes to mono float32."""
    try:
        src: Any = io.BytesIO(data) if data is not None else str(path)
        samples, sr = sf.read(src, dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile raises several types
        raise DataError(f"cannot decode {path or 'bytes'}: {exc}") from exc
    return samples.mean(axis=1), sr


def condition(samples: np.ndarray, sr: int, target_sr: int, trim: bool = True) -> np.ndarray | None:
    """Mono float at ``target_sr`` with leading/trailing silence trimmed; None if unusable."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    if samples.size == 0 or not np.all(np.isfinite(samples)):
        return None
    peak = float(np.max(np.abs(samples)))
    if peak < SILENCE_PEAK:
        return None
    if sr != target_sr:
        samples = soxr.resample(samples, sr, target_sr, quality="HQ").astype(np.float32)
    need = int(MIN_SECONDS * target_sr)
    if len(samples) < need:
        return None
    if not trim:
        return samples
    thresh = max(SILENCE_PEAK * 0.5, 0.003 * peak)
    idx = np.flatnonzero(np.abs(samples) > thresh)
    pad = int(0.02 * target_sr)
    start = max(0, idx[0] - pad)
    # a short click keeps its tail up to the minimum length
    end = max(idx[-1] + pad + 1, start + need)
    end = min(end, len(samples))
    start = min(start, end - need)
    return samples[start:end]


def cut(
    samples: np.ndarray, sr: int, max_s: float, allow_segments: bool, max_segments: int
) -> list[tuple[float, np.ndarray]]:
    """[(start seconds, samples)] no longer than ``max_s``: one crop, or several segments of
    long ambience."""
    max_samples = int(max_s * sr)
    if len(samples) <= max_samples:
        return [(0.0, samples)]
    fade = np.linspace(1.0, 0.0, int(0.05 * sr), dtype=np.float32)

    def faded(piece: np.ndarray) -> np.ndarray:
        piece = piece.copy()
        piece[-len(fade) :] *= fade
        return piece

    if not allow_segments or len(samples) < 1.5 * max_samples:
        return [(0.0, faded(samples[:max_samples]))]
    out = []
    for index in range(min(max_segments, len(samples) // max_samples)):
        seg = samples[index * max_samples : (index + 1) * max_samples]
        if np.max(np.abs(seg)) >= SILENCE_PEAK:
            out.append((index * max_s, faded(seg)))
    return out


# --------------------------------------------------------------------------- splits
def item_split(item: str, seed: int, fractions: dict[str, float] | None = None) -> str:
    """Seeded hash split of an item id; stable whatever other items exist."""
    fr = fractions or DEFAULT_FRACTIONS
    position = int(hashlib.sha256(f"{seed}:{item}".encode()).hexdigest()[:12], 16) / 16**12
    if position < fr["test"]:
        return "test"
    if position < fr["test"] + fr["valid"]:
        return "valid"
    return "train"


def assign_splits(
    records: list[dict], seed: int, fractions: dict[str, float] | None = None
) -> None:
    """Set ``split`` on every record: by item hash, except MIDI single notes whose
    (instrument, pitch) combinations are held out so both parts stay seen in training."""
    fr = fractions or DEFAULT_FRACTIONS
    notes = [record for record in records if record.get("meta", {}).get("kind") == "midi_note"]
    combo_split = heldout_combos(
        {(record["meta"]["program"], record["meta"]["pitch"]) for record in notes},
        seed=seed,
        valid_frac=fr["valid"],
        test_frac=max(fr["test"], 0.1),
    )
    for record in records:
        meta = record.get("meta", {})
        if meta.get("kind") == "midi_note":
            record["split"] = combo_split[(meta["program"], meta["pitch"])]
        else:
            record["split"] = item_split(record["item"], seed, fr)


# --------------------------------------------------------------------------- manifests
def _records_dir(out_dir: Path) -> Path:
    return out_dir / "records"


def load_records(out_dir: Path) -> list[dict]:
    recs = []
    for records_file in sorted(_records_dir(out_dir).glob("*.jsonl")):
        recs += [json.loads(line) for line in records_file.read_text().splitlines() if line.strip()]
    return recs


def summarize(records: list[dict], out_dir: Path, sample_rate: int) -> CorpusSummary:
    per_source: dict[str, dict[str, float]] = defaultdict(lambda: {"clips": 0, "hours": 0.0})
    per_split: dict[str, dict[str, float]] = {split: {"clips": 0, "hours": 0.0} for split in SPLITS}
    for record in records:
        for totals in (per_source[record["source"]], per_split[record.get("split", "train")]):
            totals["clips"] += 1
            totals["hours"] += record["duration"] / 3600
    for totals in list(per_source.values()) + list(per_split.values()):
        totals["hours"] = round(totals["hours"], 4)
    total_h = sum(record["duration"] for record in records) / 3600
    return CorpusSummary(
        str(out_dir),
        len(records),
        round(total_h, 4),
        dict(per_source),
        per_split,
        sample_rate=sample_rate,
    )


def write_manifests(
    out_dir: Path, seed: int, sample_rate: int, extra: dict | None = None
) -> CorpusSummary:
    """(Re)write manifest.jsonl, manifest_{split}.jsonl and summary.json from the per-source
    records."""
    records = [record for record in load_records(out_dir) if (out_dir / record["path"]).is_file()]
    assign_splits(records, seed)
    records.sort(key=lambda record: record["path"])
    by_split: dict[str, list[str]] = {split: [] for split in SPLITS}
    lines = []
    for record in records:
        line = json.dumps(record, ensure_ascii=False, sort_keys=False)
        lines.append(line)
        by_split[record["split"]].append(line)
    write_text_atomic(out_dir / "manifest.jsonl", "".join(line + "\n" for line in lines))
    for split in SPLITS:
        write_text_atomic(
            out_dir / f"manifest_{split}.jsonl", "".join(line + "\n" for line in by_split[split])
        )
    summary = summarize(records, out_dir, sample_rate)
    if extra:
        summary.sources_done = extra.get("done", [])
        summary.sources_failed = extra.get("failed", {})
    write_text_atomic(out_dir / "summary.json", json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


# --------------------------------------------------------------------------- building
@dataclass
class _Build:
    """Settings every source of one build shares, and the audio already converted."""

    out_dir: Path
    cache_dir: Path  # .deb files; "unpacked/" holds the trees of the source being built
    sample_rate: int
    max_clip_seconds: float
    max_segments: int
    seed: int
    options: dict[str, int]  # per-source sizes (midi_notes, speech_lines, ...)
    keep_debs: bool
    log: Callable[[str], None]
    seen_md5: set[str]  # of source files: the same file twice is converted once

    def config_of(self, source: Source) -> dict[str, Any]:
        """What a source's output depends on: a finished source is rebuilt when it changes."""
        return {
            "sample_rate": self.sample_rate,
            "max_clip_seconds": self.max_clip_seconds,
            "seed": self.seed,
            **{key: self.options.get(key) for key in source.config_keys},
        }


def _existing_outputs(audio_dir: Path, key: str) -> list[Path]:
    """Converted files of a clip key: ``key.wav`` or consecutive segments ``key_s00.wav``,
    ``key_s01.wav``..."""
    one = audio_dir / f"{key}.wav"
    if one.is_file():
        return [one]
    out: list[Path] = []
    while (segment := audio_dir / f"{key}_s{len(out):02d}.wav").is_file():
        out.append(segment)
    return out


def _is_converted(audio_dir: Path, source: str, key: str) -> bool:
    """`SourceContext.is_done` for one source's audio folder."""
    return bool(_existing_outputs(audio_dir, key))


# Segment fields of a reused clip's previous record that its spec alone cannot restore.
_KEPT_META = ("cropped_from", "segment", "segment_start")


def _reuse(
    build: _Build, outputs: list[Path], common: dict, base_meta: dict, previous: dict[str, dict]
) -> list[dict]:
    """Records for clips converted by an earlier build (same sample rate)."""
    records = []
    for index, output in enumerate(outputs):
        relative = str(output.relative_to(build.out_dir))
        meta = dict(base_meta)
        if len(outputs) > 1 or output.stem.endswith("_s00"):
            meta.update(segment=index, segment_start=round(index * build.max_clip_seconds, 3))
        old = previous.get(relative, {})
        meta.update({key: old[key] for key in _KEPT_META if key in old})
        duration = round(sf.info(str(output)).duration, 4)
        records.append({"path": relative, **common, "duration": duration, "meta": meta})
    return records


def _conditioned_audio(build: _Build, spec: ClipSpec) -> tuple[np.ndarray | None, str]:
    """The spec's audio at the corpus rate, trimmed; or None and why it is unusable."""
    if spec.audio is not None:
        samples, sr = spec.audio, spec.sr or build.sample_rate
    elif spec.path is not None or spec.data is not None:
        try:
            samples, sr = decode(spec.path, spec.data)
        except DataError:
            return None, "broken"
    else:
        return None, "no audio"
    conditioned = condition(samples, sr, build.sample_rate, trim=spec.trim)
    return conditioned, "" if conditioned is not None else "silent or too short"


def _write_pieces(
    build: _Build,
    spec: ClipSpec,
    audio_dir: Path,
    samples: np.ndarray,
    common: dict,
    base_meta: dict,
) -> list[dict]:
    """Write the clip (or its segments) as WAV files; their records."""
    rate = build.sample_rate
    pieces = cut(samples, rate, build.max_clip_seconds, spec.allow_segments, build.max_segments)
    records = []
    for index, (start, piece) in enumerate(pieces):
        name = f"{spec.key}.wav" if len(pieces) == 1 else f"{spec.key}_s{index:02d}.wav"
        path = audio_dir / name
        write_wav(path, piece, rate)
        meta = dict(base_meta)
        if len(pieces) > 1:
            meta.update(segment=index, segment_start=round(start, 3))
        if len(samples) > len(piece) and len(pieces) == 1:
            meta["cropped_from"] = round(len(samples) / rate, 3)
        duration = round(len(piece) / rate, 4)
        records.append(
            {
                "path": str(path.relative_to(build.out_dir)),
                **common,
                "duration": duration,
                "meta": meta,
            }
        )
    return records


def _convert(
    build: _Build, spec: ClipSpec, source_name: str, previous: dict[str, dict]
) -> tuple[list[dict], str]:
    """Convert (or reuse) one clip spec; returns its records and a skip reason ("" if none)."""
    audio_dir = build.out_dir / "audio" / source_name
    common = {
        "caption": spec.captions[0],
        "captions": spec.captions,
        "source": spec.source or source_name,
        "package": spec.package or source_name,
        "license": spec.license,
        "item": spec.item,
        "sample_rate": build.sample_rate,
    }
    outputs = _existing_outputs(audio_dir, spec.key)
    md5 = None
    raw = spec.data if spec.data is not None or spec.path is None else spec.path.read_bytes()
    if raw is not None:
        md5 = hashlib.md5(raw).hexdigest()
        if md5 in build.seen_md5 and not outputs:
            return [], "duplicate"
        build.seen_md5.add(md5)
    base_meta = dict(spec.meta, **({"md5": md5} if md5 else {}))
    if outputs and all(sf.info(str(output)).samplerate == build.sample_rate for output in outputs):
        return _reuse(build, outputs, common, base_meta, previous), ""
    samples, why = _conditioned_audio(build, spec)
    if samples is None:
        return [], why
    return _write_pieces(build, spec, audio_dir, samples, common, base_meta), ""


def _already_built(build: _Build, name: str, source: Source) -> bool:
    """A finished source whose settings have not changed since."""
    records_dir = _records_dir(build.out_dir)
    done_file = records_dir / f"{name}.done.json"
    return (
        done_file.is_file()
        and json.loads(done_file.read_text()) == build.config_of(source)
        and (records_dir / f"{name}.jsonl").is_file()
    )


def _previous_meta(records_file: Path) -> dict[str, dict]:
    """path -> meta of a source's records from an earlier build ({} when none)."""
    if not records_file.is_file():
        return {}
    records = (json.loads(line) for line in records_file.read_text().splitlines())
    return {record["path"]: record.get("meta", {}) for record in records}


def _collect_source(build: _Build, name: str, source: Source, roots: dict[str, Path]) -> None:
    """Collect and convert one source's clips, then write its records and done file."""
    started = time.time()
    audio_dir = build.out_dir / "audio" / name
    temp_dir = build.out_dir / ".tmp" / name
    context = SourceContext(
        roots=roots,
        out_dir=build.out_dir,
        sample_rate=build.sample_rate,
        seed=build.seed,
        tmp_dir=temp_dir,
        options=build.options,
        log=build.log,
        is_done=functools.partial(_is_converted, audio_dir),
    )
    records_file = _records_dir(build.out_dir) / f"{name}.jsonl"
    previous = _previous_meta(records_file)
    records: list[dict] = []
    skipped: dict[str, int] = defaultdict(int)
    for index, spec in enumerate(source.collect(context)):
        if not spec.captions:
            skipped["no caption"] += 1
            continue
        converted, why = _convert(build, spec, name, previous)
        if why:
            skipped[why] += 1
        records += converted
        if (index + 1) % 250 == 0:
            build.log(f"[{name}] {index + 1} specs, {len(records)} clips so far")
    _prune(audio_dir, {build.out_dir / record["path"] for record in records})
    write_text_atomic(
        records_file,
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
    )
    done_file = _records_dir(build.out_dir) / f"{name}.done.json"
    write_text_atomic(done_file, json.dumps(build.config_of(source)))
    shutil.rmtree(temp_dir, ignore_errors=True)
    hours = sum(record["duration"] for record in records) / 3600
    build.log(
        f"[{name}] {len(records)} clips, {hours * 60:.1f} min in {time.time() - started:.0f} s"
        + (f"; skipped {dict(skipped)}" if skipped else "")
    )


def _build_source(build: _Build, name: str, source: Source) -> str:
    """Fetch, unpack, collect and convert one source; returns why it failed ("" if it did not).

    Unpacked trees are always deleted; downloaded packages too unless ``keep_debs`` or the
    source failed (a rerun then need not download them again).
    """
    roots: dict[str, Path] = {}
    error = ""
    try:
        for package in source.packages:
            deb = fetch_deb(package, build.cache_dir, build.log)
            build.log(f"[{name}] unpacking {deb.name}")
            roots[package] = unpack_deb(deb, build.cache_dir / "unpacked" / package)
        _collect_source(build, name, source, roots)
    except Exception as exc:  # one broken source must not stop the others
        error = f"{type(exc).__name__}: {exc}"
        build.log(f"[{name}] FAILED: {error}")
    finally:
        for package, root in roots.items():
            shutil.rmtree(root, ignore_errors=True)
            if not build.keep_debs and not error:
                for deb in build.cache_dir.glob(f"{package}_*.deb"):
                    deb.unlink(missing_ok=True)
    return error


def build_corpus(
    out_dir: Path,
    *,
    sources: list[str] | None = None,
    sample_rate: int = 22050,
    max_clip_seconds: float = 10.0,
    seed: int = 0,
    cache_dir: Path | None = None,
    midi_notes: int = 2000,
    speech_lines: int = 600,
    drum_patterns: int = 300,
    midi_phrases: int = 300,
    max_segments: int = 6,
    keep_debs: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    registry: dict[str, Source] | None = None,
) -> CorpusSummary:
    """Build (or resume) the corpus in ``out_dir`` and return its summary.

    ``sources`` picks source names (default: all, small ones first). ``registry`` replaces the
    source table (tests use a fake source). ``force`` re-collects finished sources (converted
    clips are still reused). Debian packages are cached in ``cache_dir`` (default
    ``out_dir/.debs``); unpacked trees are always deleted after their source.
    """
    log = progress or (lambda message: print(message, flush=True))
    table = registry if registry is not None else SOURCES
    names = list(table) if not sources else list(sources)
    unknown = [name for name in names if name not in table]
    if unknown:
        raise DataError(f"unknown corpus sources: {', '.join(unknown)} (known: {', '.join(table)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _records_dir(out_dir).mkdir(exist_ok=True)
    known = load_records(out_dir)
    build = _Build(
        out_dir=out_dir,
        cache_dir=Path(cache_dir) if cache_dir else out_dir / ".debs",
        sample_rate=sample_rate,
        max_clip_seconds=max_clip_seconds,
        max_segments=max_segments,
        seed=seed,
        options={
            "midi_notes": midi_notes,
            "speech_lines": speech_lines,
            "drum_patterns": drum_patterns,
            "midi_phrases": midi_phrases,
        },
        keep_debs=keep_debs,
        log=log,
        seen_md5={record["meta"]["md5"] for record in known if record.get("meta", {}).get("md5")},
    )
    done: list[str] = []
    failed: dict[str, str] = {}
    summary = None
    for name in names:
        source = table[name]
        if not force and _already_built(build, name, source):
            log(f"[{name}] already built, skipping")
            done.append(name)
            continue
        missing = [tool for tool in source.tools if not have_tool(tool)]
        if missing:
            failed[name] = f"missing tools: {', '.join(missing)}"
            log(f"[{name}] skipped: {failed[name]}")
            continue
        error = _build_source(build, name, source)
        if error:
            failed[name] = error
        else:
            done.append(name)
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
    for wav in audio_dir.rglob("*.wav"):
        if wav not in keep:
            wav.unlink(missing_ok=True)


# --------------------------------------------------------------------------- CLI
def main_build_corpus(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="clapldm data build-corpus", description=__doc__.split("\n\n")[0]
    )
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
        for name, source in SOURCES.items():
            print(
                f"{name:22s} {source.kind:9s} {' '.join(source.packages) or ' '.join(source.tools)}"
            )
        return 0
    if args.out is None:
        ap.error("--out is required")
    try:
        build_corpus(
            args.out,
            sources=args.sources.split(",") if args.sources else None,
            sample_rate=args.sample_rate,
            max_clip_seconds=args.max_clip_seconds,
            seed=args.seed,
            cache_dir=args.cache_dir,
            midi_notes=args.midi_notes,
            speech_lines=args.speech_lines,
            drum_patterns=args.drum_patterns,
            midi_phrases=args.midi_phrases,
            keep_debs=args.keep_debs,
            force=args.force,
        )
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main_build_corpus())
