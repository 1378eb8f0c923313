"""General MIDI renders with fluidsynth + FluidR3_GM: single notes, drum hits/patterns, phrases.

Notes are written into one MIDI file per instrument (one note every few seconds), rendered in
one fluidsynth call and cut into clips, so the 148 MB soundfont is loaded once per batch.
Single notes are split by (instrument, pitch) combination so that chosen combinations are
held out of training while each instrument and each pitch still trains with other partners.
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from clapldm.corpus import captions
from clapldm.corpus.sources.base import ClipSpec, SourceContext, run_quiet

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
LICENSE = "MIT (FluidR3_GM soundfont, rendered with fluidsynth)"
PACKAGE = "fluid-soundfont-gm"
TICKS = 480  # per beat; tempo fixed at 120 bpm in the file -> 960 ticks per second
TPS = 960

# GM program (0-based) -> (caption name, lowest, highest MIDI pitch used)
INSTRUMENTS: dict[int, tuple[str, int, int]] = {
    0: ("piano", 36, 84),
    4: ("electric piano", 36, 84),
    6: ("harpsichord", 36, 84),
    8: ("celesta", 60, 84),
    9: ("glockenspiel", 72, 84),
    11: ("vibraphone", 53, 84),
    12: ("marimba", 48, 84),
    13: ("xylophone", 60, 84),
    14: ("tubular bells", 60, 77),
    16: ("electric organ", 36, 84),
    19: ("church organ", 36, 84),
    21: ("accordion", 53, 84),
    22: ("harmonica", 60, 84),
    24: ("nylon-string guitar", 40, 79),
    25: ("steel-string acoustic guitar", 40, 79),
    26: ("jazz guitar", 40, 79),
    27: ("clean electric guitar", 40, 79),
    29: ("overdriven electric guitar", 40, 76),
    30: ("distorted electric guitar", 40, 76),
    32: ("acoustic bass", 36, 60),
    33: ("electric bass", 36, 60),
    38: ("synth bass", 36, 60),
    40: ("violin", 55, 84),
    41: ("viola", 48, 79),
    42: ("cello", 36, 72),
    43: ("double bass", 36, 55),
    45: ("pizzicato strings", 40, 79),
    46: ("harp", 36, 84),
    47: ("timpani", 36, 55),
    48: ("string ensemble", 36, 84),
    52: ("choir", 48, 79),
    56: ("trumpet", 55, 82),
    57: ("trombone", 40, 72),
    58: ("tuba", 36, 58),
    60: ("french horn", 41, 77),
    61: ("brass section", 48, 79),
    64: ("soprano saxophone", 56, 84),
    65: ("alto saxophone", 49, 81),
    66: ("tenor saxophone", 44, 76),
    68: ("oboe", 58, 84),
    70: ("bassoon", 36, 65),
    71: ("clarinet", 50, 84),
    72: ("piccolo", 74, 84),
    73: ("flute", 60, 84),
    75: ("pan flute", 60, 84),
    79: ("ocarina", 60, 84),
    80: ("square-wave synth lead", 48, 84),
    81: ("sawtooth synth lead", 48, 84),
    88: ("synth pad", 48, 84),
    104: ("sitar", 48, 77),
    105: ("banjo", 48, 84),
    108: ("kalimba", 60, 84),
    114: ("steel drums", 52, 76),
}
VELOCITIES = (40, 80, 118)  # soft, medium, loud
# programs whose notes last as long as the key is held (the others decay on their own)
SUSTAINED = {
    16,
    19,
    21,
    22,
    40,
    41,
    42,
    43,
    48,
    52,
    56,
    57,
    58,
    60,
    61,
    64,
    65,
    66,
    68,
    70,
    71,
    72,
    73,
    75,
    79,
    80,
    81,
    88,
}
GM_DRUMS = {
    35: "acoustic bass drum",
    36: "kick drum",
    37: "side stick",
    38: "snare drum",
    39: "hand clap",
    40: "electric snare",
    41: "low floor tom",
    42: "closed hi-hat",
    43: "high floor tom",
    44: "pedal hi-hat",
    45: "low tom",
    46: "open hi-hat",
    47: "low-mid tom",
    48: "high-mid tom",
    49: "crash cymbal",
    50: "high tom",
    51: "ride cymbal",
    52: "china cymbal",
    53: "ride bell",
    54: "tambourine",
    55: "splash cymbal",
    56: "cowbell",
    57: "crash cymbal",
    59: "ride cymbal",
    60: "high bongo",
    61: "low bongo",
    62: "muted high conga",
    63: "open high conga",
    64: "low conga",
    65: "high timbale",
    66: "low timbale",
    67: "high agogo",
    68: "low agogo",
    69: "cabasa",
    70: "maracas",
    71: "short whistle",
    72: "long whistle",
    73: "short guiro",
    74: "long guiro",
    75: "claves",
    76: "high wood block",
    77: "low wood block",
    78: "muted cuica",
    79: "open cuica",
    80: "muted triangle",
    81: "open triangle",
}
DRUM_KITS = {
    0: "standard",
    8: "room",
    16: "power",
    24: "electronic",
    25: "TR-808",
    32: "jazz",
    40: "brush",
}
# 16-step patterns (one bar of 4/4, or 12 steps for 3/4 / shuffle): K kick, S snare, H closed hat,
# O open hat, R ride, C crash, T tom, P clap, W cowbell, A rimshot
PATTERNS: dict[str, tuple[str, dict[str, str]]] = {
    "rock": ("4/4", {"K": "x.......x.x.....", "S": "....x.......x...", "H": "x.x.x.x.x.x.x.x."}),
    "pop": ("4/4", {"K": "x.....x.x.......", "S": "....x.......x...", "H": "xxxxxxxxxxxxxxxx"}),
    "funk": ("4/4", {"K": "x..x..x...x..x..", "S": "....x..x.x..x..x", "H": "xxxxxxxxxxxxxxxx"}),
    "disco": (
        "4/4",
        {
            "K": "x...x...x...x...",
            "S": "....x.......x...",
            "O": "..x...x...x...x.",
            "H": "x...x...x...x...",
        },
    ),
    "house": ("4/4", {"K": "x...x...x...x...", "P": "....x.......x...", "O": "..x...x...x...x."}),
    "hip hop": ("4/4", {"K": "x......x..x.....", "S": "....x.......x...", "H": "x.x.x.x.x.x.x.x."}),
    "reggae": ("4/4", {"K": "........x.......", "A": "........x.......", "H": "..x...x...x...x."}),
    "bossa nova": (
        "4/4",
        {"K": "x..xx..xx..xx..x", "A": "x..x..x...x..x..", "H": "xxxxxxxxxxxxxxxx"},
    ),
    "punk": ("4/4", {"K": "x.x.x.x.x.x.x.x.", "S": "....x.......x...", "C": "x.x.x.x.x.x.x.x."}),
    "jazz swing": (
        "4/4",
        {"R": "x..x.xx..x.xx..x", "K": "x.......x.......", "H": "....x.......x..."},
    ),
    "march": ("4/4", {"S": "x.xxx.x.x.xxx.x.", "K": "x.......x......."}),
    "waltz": ("3/4", {"K": "x...........", "S": "....x...x...", "H": "x...x...x..."}),
    "shuffle": ("4/4", {"K": "x.....x.....", "S": "...x.....x..", "H": "x.xx.xx.xx.x"}),
    "drum fill": (
        "4/4",
        {
            "S": "xxxx............",
            "T": "....xxxx........",
            "K": "............x...",
            "C": "............x...",
        },
    ),
}
PATTERN_NOTES = {
    "K": 36,
    "S": 38,
    "H": 42,
    "O": 46,
    "R": 51,
    "C": 49,
    "T": 45,
    "P": 39,
    "W": 56,
    "A": 37,
}
PHRASES = {
    "rising scale": [0, 2, 4, 5, 7, 9, 11, 12],
    "falling scale": [12, 11, 9, 7, 5, 4, 2, 0],
    "arpeggio": [0, 4, 7, 12, 7, 4, 0],
    "chord": None,
    "melody": [0, 4, 7, 9, 7, 4, 2, 0],
}
KEYS = {"C": 60, "D": 62, "E": 64, "F": 65, "G": 67, "A": 57, "B flat": 58}


# --------------------------------------------------------------------------- MIDI file writing
def _varlen(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def midi_bytes(events: Iterable[tuple[float, bytes]], end_time: float) -> bytes:
    """A type-0 Standard MIDI File from (seconds, raw event bytes); tempo 120 bpm."""
    evs = sorted(events, key=lambda event: (event[0], event[1][0] & 0xF0 != 0x80))
    track = bytearray(b"\x00\xff\x51\x03\x07\xa1\x20")  # tempo 500000 us/beat
    last = 0
    for seconds, data in evs:
        tick = int(round(seconds * TPS))
        track += _varlen(max(0, tick - last)) + data
        last = max(last, tick)
    track += _varlen(max(0, int(round(end_time * TPS)) - last)) + b"\xff\x2f\x00"
    return (
        b"MThd"
        + struct.pack(">IHHH", 6, 0, 1, TICKS)
        + b"MTrk"
        + struct.pack(">I", len(track))
        + bytes(track)
    )


def render(
    events: list[tuple[float, bytes]], end_time: float, sr: int, tmp: Path, gain: float = 0.6
) -> np.ndarray:
    """Render MIDI events with fluidsynth (no reverb/chorus); returns mono float32 at ``sr``."""
    tmp.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(repr(events).encode()).hexdigest()[:12]
    mid, wav = tmp / f"r{digest}.mid", tmp / f"r{digest}.wav"
    mid.write_bytes(midi_bytes(events, end_time))
    run_quiet(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            str(gain),
            "-r",
            str(sr),
            "-F",
            str(wav),
            str(SOUNDFONT),
            str(mid),
        ]
    )
    samples, got_sr = sf.read(wav, dtype="float32", always_2d=True)
    mid.unlink(missing_ok=True)
    wav.unlink(missing_ok=True)
    samples = samples.mean(axis=1)
    need = int(end_time * sr)
    return np.pad(samples, (0, max(0, need - len(samples))))


def note_events(
    start: float, dur: float, pitch: int, vel: int, ch: int = 0
) -> list[tuple[float, bytes]]:
    return [(start, bytes([0x90 | ch, pitch, vel])), (start + dur, bytes([0x80 | ch, pitch, 0]))]


def program_event(program: int, ch: int = 0) -> tuple[float, bytes]:
    return (0.0, bytes([0xC0 | ch, program]))


# ------------------------------------------------------------------ note grid and held-out combos
def note_grid(n_notes: int, seed: int) -> list[tuple[int, int, int, float]]:
    """(program, pitch, velocity, hold seconds) for about ``n_notes`` single notes."""
    progs = sorted(INSTRUMENTS)
    per_inst = max(1, round(n_notes / (len(progs) * len(VELOCITIES))))
    out = []
    for prog in progs:
        name, lo, hi = INSTRUMENTS[prog]
        rng = random.Random(f"{seed}:{prog}")
        pitches = list(range(lo, hi + 1))
        chosen = sorted(rng.sample(pitches, min(per_inst, len(pitches))))
        for pitch in chosen:
            for velocity in VELOCITIES:
                out.append((prog, pitch, velocity, rng.choice((1.5, 2.0, 2.5, 3.0))))
    return out


def heldout_combos(
    combos: Iterable[tuple[object, int]],
    *,
    seed: int = 0,
    valid_frac: float = 0.05,
    test_frac: float = 0.1,
    max_frac_per_instrument: float = 0.3,
) -> dict[tuple, str]:
    """Assign (instrument, pitch) combinations to train/valid/test.

    Held-out (valid/test) combinations are chosen so that every instrument and every pitch that
    occurs in a held-out combination also occurs in training with other partners.
    """
    combos = sorted(set(combos), key=lambda combo: (str(combo[0]), combo[1]))
    split = {combo: "train" for combo in combos}
    inst_train = Counter(combo[0] for combo in combos)
    pitch_train = Counter(combo[1] for combo in combos)
    inst_total = Counter(combo[0] for combo in combos)
    held: Counter[object] = Counter()
    order = sorted(
        combos,
        key=lambda combo: hashlib.sha256(f"{seed}:{combo[0]}:{combo[1]}".encode()).hexdigest(),
    )
    targets = [("test", round(test_frac * len(combos))), ("valid", round(valid_frac * len(combos)))]
    it = iter(order)
    for name, target in targets:
        got = 0
        for combo in it:
            if got >= target:
                break
            inst, pitch = combo
            if inst_train[inst] <= 1 or pitch_train[pitch] <= 1:
                continue
            if held[inst] + 1 > max_frac_per_instrument * inst_total[inst]:
                continue
            split[combo] = name
            inst_train[inst] -= 1
            pitch_train[pitch] -= 1
            held[inst] += 1
            got += 1
    return split


# --------------------------------------------------------------------------- collectors
def _trim_tail(samples: np.ndarray, sr: int, rel: float = 1e-3, keep: float = 0.1) -> np.ndarray:
    """Drop the silent end of a rendered slice (below -60 dB relative to its peak)."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    idx = np.flatnonzero(np.abs(samples) > max(rel * peak, 1e-5))
    if len(idx) == 0:
        return samples[:0]
    end = min(len(samples), idx[-1] + int(keep * sr))
    return samples[:end]


def _midi_spec(
    key: str,
    item: str,
    caps: list[str],
    meta: dict,
    clip: np.ndarray | None,
    sr: int,
    trim: bool = True,
) -> ClipSpec:
    """A clip rendered from General MIDI (``clip`` None: converted by an earlier build)."""
    return ClipSpec(
        key=key,
        item=item,
        captions=caps,
        license=LICENSE,
        meta=meta,
        audio=clip,
        sr=sr,
        package=PACKAGE,
        trim=trim,
    )


def collect_midi_notes(ctx: SourceContext) -> Iterator[ClipSpec]:
    sr = ctx.sample_rate
    grid = note_grid(int(ctx.options.get("midi_notes", 2000)), ctx.seed)
    slot = 6.0
    by_prog: dict[int, list] = {}
    for note in grid:
        by_prog.setdefault(note[0], []).append(note)
    for prog, notes in by_prog.items():
        name = INSTRUMENTS[prog][0]
        keys = [
            f"{prog:03d}_{name.replace(' ', '-')}/"
            f"{captions.note_name(pitch).replace('#', 's')}_v{velocity}"
            for _, pitch, velocity, _ in notes
        ]
        audio = None
        if not all(ctx.is_done("midi-notes", clip_key) for clip_key in keys):
            events = [program_event(prog)]
            for index, (_, pitch, velocity, hold) in enumerate(notes):
                events += note_events(index * slot + 0.05, hold, pitch, velocity)
            audio = render(events, len(notes) * slot, sr, ctx.tmp_dir, gain=0.5)
        for index, ((_, pitch, velocity, hold), key) in enumerate(zip(notes, keys)):
            clip = None
            if audio is not None:  # a fixed window: note-on, hold, one second of release
                clip = audio[int(index * slot * sr) : int((index * slot + hold + 1.05) * sr)]
            meta = {
                "kind": "midi_note",
                "instrument": name,
                "program": prog,
                "pitch": pitch,
                "note": captions.note_name(pitch),
                "velocity": velocity,
                "dynamics": captions.dynamics_words(velocity)[0],
                "hold": hold,
            }
            caps = captions.midi_note_captions(
                name, pitch, velocity, hold if prog in SUSTAINED else None
            )
            yield _midi_spec(key, f"midi:{prog}:{pitch}", caps, meta, clip, sr, trim=False)


def collect_midi_drums(ctx: SourceContext) -> Iterator[ClipSpec]:
    """Single drum hits, then two-bar patterns."""
    yield from _drum_hits(ctx)
    yield from _drum_patterns(ctx)


def _drum_hits(ctx: SourceContext) -> Iterator[ClipSpec]:
    """Every GM drum on two kits at three velocities, rendered in one call per kit."""
    sr = ctx.sample_rate
    for kit_prog in (0, 25):
        kit = DRUM_KITS[kit_prog]
        hits = [(drum_note, velocity) for drum_note in sorted(GM_DRUMS) for velocity in VELOCITIES]
        keys = [
            f"hits_{kit}/{drum_note}_{GM_DRUMS[drum_note].replace(' ', '-')}_v{velocity}"
            for drum_note, velocity in hits
        ]
        audio = None
        if not all(ctx.is_done("midi-drums", clip_key) for clip_key in keys):
            events = [program_event(kit_prog, 9)]
            for index, (drum_note, velocity) in enumerate(hits):
                events += note_events(index * 3.0 + 0.05, 0.5, drum_note, velocity, ch=9)
            audio = render(events, len(hits) * 3.0, sr, ctx.tmp_dir, gain=0.5)
        for index, ((drum_note, velocity), key) in enumerate(zip(hits, keys)):
            clip = (
                _trim_tail(audio[int(index * 3.0 * sr) : int((index * 3.0 + 2.5) * sr)], sr)
                if audio is not None
                else None
            )
            meta = {
                "kind": "drum_hit",
                "drum": GM_DRUMS[drum_note],
                "pitch": drum_note,
                "velocity": velocity,
                "kit": kit,
                "program": kit_prog,
            }
            yield _midi_spec(
                key,
                f"drumhit:{GM_DRUMS[drum_note]}",
                captions.drum_hit_captions(GM_DRUMS[drum_note], velocity, kit),
                meta,
                clip,
                sr,
            )


def _pattern_events(
    kit_prog: int, grid: dict[str, str], bars: int, step_s: float, seed_key: str
) -> list[tuple[float, bytes]]:
    """MIDI events of a drum pattern ("x" in a lane's steps = a hit), velocities jittered."""
    steps = len(next(iter(grid.values())))
    jitter = random.Random(seed_key)
    events = [program_event(kit_prog, 9)]
    for bar in range(bars):
        for lane, pattern in grid.items():
            for index, step in enumerate(pattern):
                if step == "x":
                    velocity = 110 if index % 4 == 0 else 85 if lane != "H" else 70
                    events += note_events(
                        0.05 + (bar * steps + index) * step_s,
                        step_s * 0.9,
                        PATTERN_NOTES[lane],
                        velocity + jitter.randint(-8, 8),
                        ch=9,
                    )
    return events


def _drum_patterns(ctx: SourceContext) -> Iterator[ClipSpec]:
    """Style x tempo x kit, two bars (one when two would pass 8.5 s)."""
    sr = ctx.sample_rate
    rng = random.Random(f"{ctx.seed}:drums")
    tempos = (70, 90, 100, 120, 140, 160)
    n_patterns = int(ctx.options.get("drum_patterns", 300))
    combos = [
        (pattern, tempo, kit_number)
        for pattern in PATTERNS
        for tempo in tempos
        for kit_number in DRUM_KITS
    ]
    rng.shuffle(combos)
    for style, bpm, kit_prog in sorted(
        combos[:n_patterns], key=lambda combo: (combo[2], combo[0], combo[1])
    ):
        kit = DRUM_KITS[kit_prog]
        meter, grid = PATTERNS[style]
        key = f"patterns/{style.replace(' ', '-')}_{bpm}bpm_{kit}"
        steps = len(next(iter(grid.values())))
        step_s = 60.0 / bpm / (3 if steps == 12 and meter == "4/4" else 4)
        bars = 2 if steps * step_s * 2 <= 8.5 else 1
        length = bars * steps * step_s
        clip = None
        if not ctx.is_done("midi-drums", key):
            events = _pattern_events(kit_prog, grid, bars, step_s, f"{ctx.seed}:{key}")
            clip = _trim_tail(render(events, length + 1.5, sr, ctx.tmp_dir, gain=0.4), sr)
        meta = {
            "kind": "drum_pattern",
            "style": style,
            "bpm": bpm,
            "kit": kit,
            "program": kit_prog,
            "meter": meter,
            "bars": bars,
        }
        yield _midi_spec(
            key,
            f"drums:{style}:{bpm}",
            captions.drum_pattern_captions(style, bpm, kit, meter),
            meta,
            clip,
            sr,
        )


def collect_midi_phrases(ctx: SourceContext) -> Iterator[ClipSpec]:
    sr = ctx.sample_rate
    rng = random.Random(f"{ctx.seed}:phrases")
    phrase_count = int(ctx.options.get("midi_phrases", 300))
    progs = [program for program in sorted(INSTRUMENTS) if program not in (47, 114)]
    combos = [
        (program, shape, tonic, mode)
        for program in progs
        for shape in PHRASES
        for tonic in KEYS
        for mode in ("major", "minor")
    ]
    rng.shuffle(combos)
    for prog, phrase, key_name, quality in sorted(combos[:phrase_count]):
        name, lo, hi = INSTRUMENTS[prog]
        root = KEYS[key_name]
        while root + 12 > hi and root - 12 >= lo:
            root -= 12
        while root < lo:
            root += 12
        bpm = rng.choice((72, 90, 100, 110, 120, 132))
        vel = rng.choice(VELOCITIES)
        key = (
            f"{prog:03d}_{name.replace(' ', '-')}/"
            f"{phrase.replace(' ', '-')}_{key_name.replace(' ', '')}{quality}"
        )
        offs = PHRASES[phrase]
        minor = {4: 3, 9: 8, 11: 10}
        if quality == "minor" and offs is not None:
            offs = [minor.get(offset % 12, offset % 12) + 12 * (offset // 12) for offset in offs]
        beat = 60.0 / bpm
        if offs is None:
            third = 3 if quality == "minor" else 4
            notes = [(0.05, beat * 4, root + offset) for offset in (0, third, 7, 12)]
            length = beat * 4 + 1.5
        else:
            step = beat / 2 if len(offs) > 4 else beat
            notes = [
                (0.05 + index * step, step * 0.95, root + offset)
                for index, offset in enumerate(offs)
            ]
            length = len(offs) * step + 1.5
        notes = [(start, duration, pitch) for start, duration, pitch in notes if pitch <= 108]
        clip = None
        if not ctx.is_done("midi-phrases", key):
            events = [program_event(prog)]
            for start, duration, pitch in notes:
                events += note_events(start, duration, pitch, vel)
            clip = _trim_tail(render(events, length, sr, ctx.tmp_dir, gain=0.4), sr)
        key_text = f"{key_name} {quality}"
        caps = captions.midi_phrase_captions(
            name, phrase if phrase != "chord" else "chord", key_text, bpm, vel
        )
        if phrase == "chord":
            caps = captions.dedupe(
                [f"{captions.article(name)} plays {captions.article(key_text)} chord", *caps[1:]]
            )
        meta = {
            "kind": "midi_phrase",
            "instrument": name,
            "program": prog,
            "phrase": phrase,
            "key": key_text,
            "bpm": bpm,
            "velocity": vel,
            "pitches": [pitch for _, _, pitch in notes],
        }
        yield _midi_spec(key, f"phrase:{prog}:{phrase}:{key_text}", caps, meta, clip, sr)
