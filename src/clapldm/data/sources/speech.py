"""Synthetic speech from espeak-ng and flite with exact transcripts, voice, gender and language."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import soundfile as sf

from clapldm.data import captions as C
from clapldm.data.sources.base import ClipSpec, SourceContext, have_tool, run_quiet

ESPEAK_LICENSE = "GPL-3+ (espeak-ng voice data); synthetic output"
FLITE_LICENSE = "BSD-style (flite/CMU voices); synthetic output"

PHRASES_EN = [
    "hello there", "good morning", "good night", "thank you very much", "see you later", "how are you today",
    "what time is it", "please open the door", "close the window", "turn left at the next corner",
    "the train is late again", "it is raining outside", "I like this song", "where is the station",
    "let's go to the beach", "the cat is sleeping", "the dog wants to play", "can you help me", "I am hungry",
    "dinner is ready", "happy birthday", "welcome home", "watch out", "stop right there", "follow me",
    "the meeting starts at nine", "please leave a message after the tone", "your call is important to us",
    "the next stop is central station", "mind the gap", "attention please", "the flight is now boarding",
    "press one for more options", "the weather will be sunny tomorrow", "we are going to be late",
    "I don't know", "yes of course", "no thank you", "maybe tomorrow", "that sounds great", "be careful",
    "the water is cold", "the music is too loud", "turn down the volume", "I lost my keys", "call me back",
    "the shop is closed", "it is very windy today", "one more time", "almost there", "good luck",
    "congratulations", "excuse me", "sorry about that", "take a seat", "listen carefully",
    "the quick brown fox jumps over the lazy dog", "a stitch in time saves nine", "all systems are ready",
    "system failure", "access denied", "mission complete", "game over", "level up", "you win", "try again",
    "low battery", "warning, high temperature", "the door is open", "the engine is running",
    "ladies and gentlemen", "once upon a time", "the end", "left", "right", "up", "down", "start", "stop",
    "yes", "no", "hello", "goodbye", "help", "wait", "run", "go", "again", "ready", "okay",
]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def number_words(n: int) -> str:
    if n < 20:
        return NUMBER_WORDS[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + NUMBER_WORDS[n % 10])
    rest = n % 100
    return NUMBER_WORDS[n // 100] + " hundred" + ("" if rest == 0 else " and " + number_words(rest))


PHRASES_OTHER = {
    "French": ("fr", ["bonjour", "merci beaucoup", "au revoir", "bonne nuit", "comment allez-vous", "je ne sais pas",
                      "il fait beau aujourd'hui", "un, deux, trois", "s'il vous plaît", "à demain"]),
    "German": ("de", ["guten Morgen", "vielen Dank", "auf Wiedersehen", "gute Nacht", "wie geht es dir",
                      "ich weiß es nicht", "das Wetter ist schön", "eins, zwei, drei", "bitte schön", "bis morgen"]),
    "Spanish": ("es", ["buenos días", "muchas gracias", "adiós", "buenas noches", "¿cómo estás?", "no lo sé",
                       "hace buen tiempo", "uno, dos, tres", "por favor", "hasta mañana"]),
    "Italian": ("it", ["buongiorno", "grazie mille", "arrivederci", "buona notte", "come stai", "non lo so",
                       "fa bel tempo oggi", "uno, due, tre", "per favore", "a domani"]),
    "Portuguese": ("pt", ["bom dia", "muito obrigado", "adeus", "boa noite", "como está", "não sei",
                          "está um dia bonito", "um, dois, três", "por favor", "até amanhã"]),
    "Dutch": ("nl", ["goedemorgen", "dank je wel", "tot ziens", "goede nacht", "hoe gaat het", "ik weet het niet",
                     "het is mooi weer", "een, twee, drie", "alstublieft", "tot morgen"]),
}
# espeak-ng variants: name -> (gender, style word or None)
ESPEAK_VARIANTS = {"f1": ("female", None), "f2": ("female", None), "f3": ("female", None), "f4": ("female", None),
                   "f5": ("female", None), "Annie": ("female", None), "belinda": ("female", None),
                   "linda": ("female", None), "steph": ("female", None), "m1": ("male", None), "m2": ("male", None),
                   "m3": ("male", None), "m4": ("male", None), "m6": ("male", None), "m7": ("male", None),
                   "david": ("male", None), "john": ("male", None), "robert": ("male", None),
                   "female_whisper": ("female", "whispering"), "whisper": ("male", "whispering"),
                   "croak": ("male", "croaky"), "grandma": ("female", "elderly"), "grandpa": ("male", "elderly")}
ESPEAK_ACCENTS = {"en-us": "American", "en-gb": "British", "en-gb-scotland": "Scottish", "en-029": "Caribbean"}
FLITE_VOICES = {"slt": ("female", "American"), "kal16": ("male", "American"), "awb": ("male", "Scottish"),
                "rms": ("male", "American")}


def english_texts(seed: int) -> list[str]:
    rng = random.Random(f"{seed}:numbers")
    nums = [number_words(n) for n in rng.sample(range(0, 1000), 60)]
    counts = [", ".join(number_words(i) for i in range(a, a + 4)) for a in (1, 5, 10)]
    return PHRASES_EN + nums + counts


def _voices(gender_style: dict) -> list[str]:
    return sorted(gender_style)


def collect_speech(ctx: SourceContext) -> Iterator[ClipSpec]:
    total = int(ctx.options.get("speech_lines", 600))
    rng = random.Random(f"{ctx.seed}:speech")
    jobs = []  # (engine, voice, accent/lang, gender, style, language, text)
    has_espeak, has_flite = have_tool("espeak-ng"), have_tool("flite")
    en = english_texts(ctx.seed)
    n_foreign = sum(len(v[1]) for v in PHRASES_OTHER.values()) * 2 if has_espeak else 0
    per_text = max(1, round((total - n_foreign) / max(1, len(en))))
    for text in en:
        for _ in range(per_text):
            if has_flite and (not has_espeak or rng.random() < 0.3):
                v = rng.choice(sorted(FLITE_VOICES))
                g, accent = FLITE_VOICES[v]
                jobs.append(("flite", v, accent, g, None, "English", text))
            elif has_espeak:
                v = rng.choice(sorted(ESPEAK_VARIANTS))
                acc = rng.choice(sorted(ESPEAK_ACCENTS))
                g, style = ESPEAK_VARIANTS[v]
                jobs.append(("espeak-ng", f"{acc}+{v}", ESPEAK_ACCENTS[acc], g, style, "English", text))
    if has_espeak:
        for lang, (code, texts) in PHRASES_OTHER.items():
            for text in texts:
                for g in ("female", "male"):
                    v = rng.choice([k for k, (gg, s) in ESPEAK_VARIANTS.items() if gg == g and s is None])
                    jobs.append(("espeak-ng", f"{code}+{v}", None, g, None, lang, text))
    seen = set()
    for engine, voice, accent, gender, style, language, text in jobs[: max(total, 0) or len(jobs)]:
        h = hashlib.sha1(f"{engine}:{voice}:{text}".encode()).hexdigest()[:10]
        if h in seen:
            continue
        seen.add(h)
        slug = "".join(ch if ch.isalnum() else "-" for ch in text.lower())[:40].strip("-")
        key = f"{engine}/{language.lower()}/{slug}_{voice.replace('+', '_')}_{h[:6]}"
        speed = rng.choice((130, 150, 165, 180))
        audio, sr = None, None
        if not ctx.is_done("speech", key):
            wav = ctx.tmp_dir / f"sp{h}.wav"
            ctx.tmp_dir.mkdir(parents=True, exist_ok=True)
            if engine == "flite":
                run_quiet(["flite", "-voice", voice, "-t", text, "-o", str(wav)])
            else:
                run_quiet(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text])
            audio, sr = sf.read(wav, dtype="float32")
            wav.unlink(missing_ok=True)
        style_word = style or (accent if accent and accent != "American" else None)
        caps = C.speech_captions(text, gender, language, style=style_word)
        if style == "whispering":
            who = "a woman" if gender == "female" else "a man"
            caps = C.dedupe([f"{who} whispers '{text}'", *caps])
        meta = {"kind": "speech", "engine": engine, "voice": voice, "gender": gender, "language": language,
                "accent": accent, "style": style, "text": text, "speed": speed if engine == "espeak-ng" else None}
        yield ClipSpec(key=key, item=f"speech:{language}:{text.lower()}", captions=caps,
                       license=ESPEAK_LICENSE if engine == "espeak-ng" else FLITE_LICENSE, meta=meta,
                       audio=audio, sr=sr, package=engine, source=engine)
