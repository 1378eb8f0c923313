"""Synthetic speech from espeak-ng and flite with exact transcripts, voice, gender and language."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import soundfile as sf

from clapldm.corpus import captions
from clapldm.corpus.sources.base import ClipSpec, SourceContext, have_tool, run_quiet

ESPEAK_LICENSE = "GPL-3+ (espeak-ng voice data); synthetic output"
FLITE_LICENSE = "BSD-style (flite/CMU voices); synthetic output"

PHRASES_EN = [
    "hello there",
    "good morning",
    "good night",
    "thank you very much",
    "see you later",
    "how are you today",
    "what time is it",
    "please open the door",
    "close the window",
    "turn left at the next corner",
    "the train is late again",
    "it is raining outside",
    "I like this song",
    "where is the station",
    "let's go to the beach",
    "the cat is sleeping",
    "the dog wants to play",
    "can you help me",
    "I am hungry",
    "dinner is ready",
    "happy birthday",
    "welcome home",
    "watch out",
    "stop right there",
    "follow me",
    "the meeting starts at nine",
    "please leave a message after the tone",
    "your call is important to us",
    "the next stop is central station",
    "mind the gap",
    "attention please",
    "the flight is now boarding",
    "press one for more options",
    "the weather will be sunny tomorrow",
    "we are going to be late",
    "I don't know",
    "yes of course",
    "no thank you",
    "maybe tomorrow",
    "that sounds great",
    "be careful",
    "the water is cold",
    "the music is too loud",
    "turn down the volume",
    "I lost my keys",
    "call me back",
    "the shop is closed",
    "it is very windy today",
    "one more time",
    "almost there",
    "good luck",
    "congratulations",
    "excuse me",
    "sorry about that",
    "take a seat",
    "listen carefully",
    "the quick brown fox jumps over the lazy dog",
    "a stitch in time saves nine",
    "all systems are ready",
    "system failure",
    "access denied",
    "mission complete",
    "game over",
    "level up",
    "you win",
    "try again",
    "low battery",
    "warning, high temperature",
    "the door is open",
    "the engine is running",
    "ladies and gentlemen",
    "once upon a time",
    "the end",
    "left",
    "right",
    "up",
    "down",
    "start",
    "stop",
    "yes",
    "no",
    "hello",
    "goodbye",
    "help",
    "wait",
    "run",
    "go",
    "again",
    "ready",
    "okay",
]
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(number: int) -> str:
    if number < 20:
        return NUMBER_WORDS[number]
    if number < 100:
        return TENS[number // 10] + ("" if number % 10 == 0 else " " + NUMBER_WORDS[number % 10])
    rest = number % 100
    return (
        NUMBER_WORDS[number // 100]
        + " hundred"
        + ("" if rest == 0 else " and " + number_words(rest))
    )


PHRASES_OTHER = {
    "French": (
        "fr",
        [
            "bonjour",
            "merci beaucoup",
            "au revoir",
            "bonne nuit",
            "comment allez-vous",
            "je ne sais pas",
            "il fait beau aujourd'hui",
            "un, deux, trois",
            "s'il vous plaît",
            "à demain",
        ],
    ),
    "German": (
        "de",
        [
            "guten Morgen",
            "vielen Dank",
            "auf Wiedersehen",
            "gute Nacht",
            "wie geht es dir",
            "ich weiß es nicht",
            "das Wetter ist schön",
            "eins, zwei, drei",
            "bitte schön",
            "bis morgen",
        ],
    ),
    "Spanish": (
        "es",
        [
            "buenos días",
            "muchas gracias",
            "adiós",
            "buenas noches",
            "¿cómo estás?",
            "no lo sé",
            "hace buen tiempo",
            "uno, dos, tres",
            "por favor",
            "hasta mañana",
        ],
    ),
    "Italian": (
        "it",
        [
            "buongiorno",
            "grazie mille",
            "arrivederci",
            "buona notte",
            "come stai",
            "non lo so",
            "fa bel tempo oggi",
            "uno, due, tre",
            "per favore",
            "a domani",
        ],
    ),
    "Portuguese": (
        "pt",
        [
            "bom dia",
            "muito obrigado",
            "adeus",
            "boa noite",
            "como está",
            "não sei",
            "está um dia bonito",
            "um, dois, três",
            "por favor",
            "até amanhã",
        ],
    ),
    "Dutch": (
        "nl",
        [
            "goedemorgen",
            "dank je wel",
            "tot ziens",
            "goede nacht",
            "hoe gaat het",
            "ik weet het niet",
            "het is mooi weer",
            "een, twee, drie",
            "alstublieft",
            "tot morgen",
        ],
    ),
}
# espeak-ng variants: name -> (gender, style word or None)
ESPEAK_VARIANTS = {
    "f1": ("female", None),
    "f2": ("female", None),
    "f3": ("female", None),
    "f4": ("female", None),
    "f5": ("female", None),
    "Annie": ("female", None),
    "belinda": ("female", None),
    "linda": ("female", None),
    "steph": ("female", None),
    "m1": ("male", None),
    "m2": ("male", None),
    "m3": ("male", None),
    "m4": ("male", None),
    "m6": ("male", None),
    "m7": ("male", None),
    "david": ("male", None),
    "john": ("male", None),
    "robert": ("male", None),
    "female_whisper": ("female", "whispering"),
    "whisper": ("male", "whispering"),
    "croak": ("male", "croaky"),
    "grandma": ("female", "elderly"),
    "grandpa": ("male", "elderly"),
}
ESPEAK_ACCENTS = {
    "en-us": "American",
    "en-gb": "British",
    "en-gb-scotland": "Scottish",
    "en-029": "Caribbean",
}
FLITE_VOICES = {
    "slt": ("female", "American"),
    "kal16": ("male", "American"),
    "awb": ("male", "Scottish"),
    "rms": ("male", "American"),
}


def english_texts(seed: int) -> list[str]:
    rng = random.Random(f"{seed}:numbers")
    nums = [number_words(number) for number in rng.sample(range(0, 1000), 60)]
    counts = [
        ", ".join(number_words(number) for number in range(first, first + 4))
        for first in (1, 5, 10)
    ]
    return PHRASES_EN + nums + counts


def _voices(gender_style: dict) -> list[str]:
    return sorted(gender_style)


class _SpeechJob(NamedTuple):
    """One line to synthesize."""

    engine: str  # "flite" or "espeak-ng"
    voice: str  # the engine's voice argument
    accent: str | None
    gender: str
    style: str | None  # an espeak-ng variant's style ("whispering", ...)
    language: str
    text: str


def _speech_jobs(ctx: SourceContext, rng: random.Random, total: int) -> list[_SpeechJob]:
    """English lines over flite and espeak-ng voices, then every foreign phrase twice."""
    jobs: list[_SpeechJob] = []
    has_espeak, has_flite = have_tool("espeak-ng"), have_tool("flite")
    english = english_texts(ctx.seed)
    n_foreign = sum(len(texts) for _, texts in PHRASES_OTHER.values()) * 2 if has_espeak else 0
    per_text = max(1, round((total - n_foreign) / max(1, len(english))))
    for text in english:
        for _ in range(per_text):
            if has_flite and (not has_espeak or rng.random() < 0.3):
                variant = rng.choice(sorted(FLITE_VOICES))
                gender, accent = FLITE_VOICES[variant]
                jobs.append(_SpeechJob("flite", variant, accent, gender, None, "English", text))
            elif has_espeak:
                variant = rng.choice(sorted(ESPEAK_VARIANTS))
                accent_code = rng.choice(sorted(ESPEAK_ACCENTS))
                gender, style = ESPEAK_VARIANTS[variant]
                voice = f"{accent_code}+{variant}"
                accent = ESPEAK_ACCENTS[accent_code]
                jobs.append(_SpeechJob("espeak-ng", voice, accent, gender, style, "English", text))
    if has_espeak:
        for language, (code, texts) in PHRASES_OTHER.items():
            for text in texts:
                for gender in ("female", "male"):
                    plain_voices = [
                        name
                        for name, (voice_gender, voice_style) in ESPEAK_VARIANTS.items()
                        if voice_gender == gender and voice_style is None
                    ]
                    voice = f"{code}+{rng.choice(plain_voices)}"
                    jobs.append(_SpeechJob("espeak-ng", voice, None, gender, None, language, text))
    return jobs


def _synthesize(
    ctx: SourceContext, job: _SpeechJob, digest: str, speed: int
) -> tuple[np.ndarray, int]:
    """(samples, sample rate) of one job, through a temp WAV file."""
    wav = ctx.tmp_dir / f"sp{digest}.wav"
    ctx.tmp_dir.mkdir(parents=True, exist_ok=True)
    if job.engine == "flite":
        run_quiet(["flite", "-voice", job.voice, "-t", job.text, "-o", str(wav)])
    else:
        run_quiet(["espeak-ng", "-v", job.voice, "-s", str(speed), "-w", str(wav), job.text])
    audio, sr = sf.read(wav, dtype="float32")
    wav.unlink(missing_ok=True)
    return audio, sr


def collect_speech(ctx: SourceContext) -> Iterator[ClipSpec]:
    total = int(ctx.options.get("speech_lines", 600))
    rng = random.Random(f"{ctx.seed}:speech")
    jobs = _speech_jobs(ctx, rng, total)
    seen = set()
    for job in jobs[: max(total, 0) or len(jobs)]:
        engine, voice, accent, gender, style, language, text = job
        digest = hashlib.sha1(f"{engine}:{voice}:{text}".encode()).hexdigest()[:10]
        if digest in seen:
            continue
        seen.add(digest)
        slug = "".join(ch if ch.isalnum() else "-" for ch in text.lower())[:40].strip("-")
        key = f"{engine}/{language.lower()}/{slug}_{voice.replace('+', '_')}_{digest[:6]}"
        speed = rng.choice((130, 150, 165, 180))
        audio, sr = None, None
        if not ctx.is_done("speech", key):
            audio, sr = _synthesize(ctx, job, digest, speed)
        style_word = style or (accent if accent and accent != "American" else None)
        caps = captions.speech_captions(text, gender, language, style=style_word)
        if style == "whispering":
            who = "a woman" if gender == "female" else "a man"
            caps = captions.dedupe([f"{who} whispers '{text}'", *caps])
        meta = {
            "kind": "speech",
            "engine": engine,
            "voice": voice,
            "gender": gender,
            "language": language,
            "accent": accent,
            "style": style,
            "text": text,
            "speed": speed if engine == "espeak-ng" else None,
        }
        yield ClipSpec(
            key=key,
            item=f"speech:{language}:{text.lower()}",
            captions=caps,
            license=ESPEAK_LICENSE if engine == "espeak-ng" else FLITE_LICENSE,
            meta=meta,
            audio=audio,
            sr=sr,
            package=engine,
            source=engine,
        )
