"""Caption writing for the offline corpus.

Sound-effect captions are built from file names and folders with small word tables (game
jargon -> plain words, actions -> verbs, materials, animal calls), never per-file hand
captions. Every function returns several paraphrases, best first, so the text tower sees
varied wordings of the same sound. MIDI and speech captions are written from exact metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from clapldm.data.sources.words import (  # noqa: F401  (re-exported word tables)
    ACTION_ALIASES,
    ACTIONS,
    ADJ_MAP,
    ADJECTIVES,
    ANIMAL_CALLS,
    DEFAULT_OBJECT,
    EXTRA_WORDS,
    FOLDER_CONTEXT,
    FOLDER_SKIP,
    MASS,
    MATERIALS,
    MELEE,
    MISSILES,
    NOUNS,
    PLURALS,
    PROJECTILES,
    SMALL_WORDS,
    SOMEONE_ACTIONS,
    SOUND_NOUNS,
    STOPWORDS,
    WEAPON_ACTIONS,
)

# --------------------------------------------------------------------------- word tables



_take_re = re.compile(r"^(take|tk|v|var|alt|ver)?\d+[a-z]?$")
_camel_re = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def _vocabulary() -> set[str]:
    words = set(NOUNS) | set(ANIMAL_CALLS) | set(ACTIONS) | set(ACTION_ALIASES) | MATERIALS | PROJECTILES
    words |= SOUND_NOUNS | ADJECTIVES | set(ADJ_MAP) | set(FOLDER_CONTEXT) | EXTRA_WORDS
    return {w for w in words if "_" not in w and " " not in w and len(w) > 1}


VOCAB = _vocabulary()


# --------------------------------------------------------------------------- tokenizing
def split_compound(word: str, vocab: set[str] | None = None) -> list[str]:
    """Split a glued lower-case word into known words ("shotgunreload" -> shotgun, reload).

    Dynamic programming that maximises the length of recognised words; unknown stretches of
    fewer than 3 letters are kept glued to a neighbour. Returns [word] if nothing fits well.
    """
    vocab = VOCAB if vocab is None else vocab
    if word in vocab or len(word) < 5:
        return [word]
    n = len(word)
    best: list[tuple[int, list[str]] | None] = [None] * (n + 1)
    best[0] = (0, [])
    for i in range(n):
        if best[i] is None:
            continue
        score, parts = best[i]
        for j in range(i + 2, n + 1):
            piece = word[i:j]
            if piece in vocab:
                cand = (score + len(piece) ** 2, parts + [piece])
                if best[j] is None or cand[0] > best[j][0]:
                    best[j] = cand
    if best[n] is not None and len(best[n][1]) > 1:
        return best[n][1]
    # allow an unknown prefix of >= 2 letters (jargon like "ele" in "eleattack")
    for k in range(2, n - 2):
        head, tail = word[:k], word[k:]
        if len(tail) >= 4 and (tail in vocab or tail in ACTION_ALIASES):
            return [head, tail]
    return [word]


def split_name(name: str) -> list[str]:
    """Turn a file or folder name into lower-case word tokens.

    Splits camelCase, snake_case, kebab-case and dots, drops the extension, take numbers and
    version suffixes ("_01", "2", "take3", "v2", "1a") and filler words ("sfx", "sound").
    """
    name = re.sub(r"\.(ogg|oga|wav|flac|aiff?|mp3|opus)$", "", name, flags=re.I)
    name = _camel_re.sub(" ", name)
    raw = re.split(r"[\s_\-.,+()\[\]/]+", name)
    out: list[str] = []
    for tok in raw:
        tok = tok.lower().strip("'")
        if not tok or _take_re.match(tok) or tok.isdigit():
            continue
        tok = re.sub(r"\d+[a-z]?$", "", tok) or tok
        if tok in STOPWORDS:
            continue
        for part in split_compound(tok):
            if part not in STOPWORDS and not part.isdigit():
                out.append(part)
    out = [t for i, t in enumerate(out) if not (i + 1 < len(out) and t in (out[i + 1] + "s", out[i + 1]))]
    i = 0
    merged: list[str] = []
    while i < len(out):  # known two-word nouns ("coal mine") become one token
        if i + 1 < len(out) and f"{out[i]}_{out[i + 1]}" in NOUNS:
            merged.append(f"{out[i]}_{out[i + 1]}")
            i += 2
        else:
            merged.append(out[i])
            i += 1
    return merged


def item_key(name: str) -> str:
    """Stable id of the sound an asset is a take of: tokens joined by '_' ("death_horse_11" -> "death_horse")."""
    return "_".join(split_name(name)) or re.sub(r"\W+", "_", name.lower()).strip("_")


# --------------------------------------------------------------------------- phrase helpers
def article(np: str) -> str:
    """Prefix 'a'/'an' unless the phrase is plural, a mass noun or already determined."""
    if not np:
        return np
    first = np.split()[0]
    last = np.split()[-1]
    if first in SMALL_WORDS or first in {"some", "two", "three", "several", "many", "someone", "something"}:
        return np
    if np in MASS or last in MASS or (last.endswith("s") and not last.endswith(("ss", "us", "is"))):
        return np
    return ("an " if first[0] in "aeiou" and not first.startswith(("uni", "eu", "one")) else "a ") + np


def indefinite(np: str) -> str:
    """Always 'a'/'an' + phrase (for countable phrases built from possibly mass-noun words)."""
    return ("an " if np[:1].lower() in "aeiou" else "a ") + np


def noun(tok: str) -> str:
    return NOUNS.get(tok, tok.replace("_", " "))


def dedupe(captions: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for c in captions:
        c = re.sub(r"\s+", " ", c).strip(" ,.")
        if c and c.lower() not in seen:
            seen.add(c.lower())
            out.append(c)
    return out


HUMAN_FIX = [(r"\bfemale (human|man|male|person)\b", "woman"), (r"\bmale (human|man|person)\b", "man"),
             (r"\bold (human|man|male)\b", "old man"), (r"\bhuman\b", "man"), (r"^male$", "man"),
             (r"^female$", "woman"), (r"\bfemale\b(?= (civilian|worker|citizen))", "female")]


def _category(tok: str) -> str:
    if tok in ADJ_MAP or (tok in ADJECTIVES and tok not in MATERIALS):
        return "adj"
    if tok in ACTIONS:
        return "act"
    if tok in MATERIALS:
        return "mat"
    return "noun"


def _np(words: Sequence[str], adjs: Sequence[str] = ()) -> str:
    np = " ".join(dict.fromkeys([ADJ_MAP.get(a, a) for a in adjs] + [noun(w) for w in words]))
    for pat, rep in HUMAN_FIX:
        np = re.sub(pat, rep, np)
    return np.strip()


def _verb_agree(subject: str, verb: str) -> str:
    """Plural subjects ('cattle', 'crickets') take 'low'/'chirp' rather than 'lows'."""
    last = subject.split()[-1]
    plural = last in PLURALS or (last.endswith("s") and not last.endswith(("ss", "us", "is", "ics")) and last not in MASS)
    if not plural:
        return verb
    first, _, rest = verb.partition(" ")
    if first == "is":
        first = "are"
    elif first.endswith("es") and first[:-2].endswith(("sh", "ch", "ss", "x", "zz")):
        first = first[:-2]
    elif first.endswith("ies"):
        first = first[:-3] + "y"
    elif first.endswith("s"):
        first = first[:-1]
    return f"{first} {rest}".strip()


def describe(tokens: Sequence[str], *, subject_hint: str | None = None) -> tuple[str, str] | None:
    """Return (clause, noun phrase) for name tokens, e.g. ("a horse dies", "a horse dying")."""
    toks = [ACTION_ALIASES.get(t, t) for t in tokens]
    cats = [_category(t) for t in toks]
    nouns = [t for t, c in zip(toks, cats) if c == "noun"]
    acts = [i for i, c in enumerate(cats) if c == "act"]
    # a lone action word that is also a sound ("fire", "splash", "hammer") is the subject
    if acts and not nouns and not subject_hint and toks[acts[0]] in SOUND_NOUNS | PROJECTILES:
        cats[acts[0]] = "noun"
        acts = acts[1:]
    adjs = [t for t, c in zip(toks, cats) if c == "adj"]
    mats = [t for t, c in zip(toks, cats) if c == "mat"]
    intransitive = bool(acts) and "{o}" not in ACTIONS[toks[acts[0]]][0]
    if not any(c == "noun" for c in cats) and (not acts or intransitive) and mats and not subject_hint:
        cats = ["noun" if c == "mat" else c for c in cats]
        mats = []
    first_noun = next((i for i, c in enumerate(cats) if c == "noun"), None)
    if first_noun is not None:
        pre = [i for i, c in enumerate(cats) if c == "mat" and i < first_noun]
        if pre and noun(toks[first_noun]) != "footsteps":
            adjs = [toks[i] for i in pre] + adjs
            mats = [m for i, m in enumerate(toks) if cats[i] == "mat" and i not in pre]
            for i in pre:
                cats[i] = "adj"
    ai = acts[0] if acts else None
    before = [t for i, (t, c) in enumerate(zip(toks, cats)) if c == "noun" and (ai is None or i < ai)]
    after = [t for i, (t, c) in enumerate(zip(toks, cats)) if c == "noun" and ai is not None and i > ai]
    if subject_hint:  # the folder names the subject (a game unit); nouns in the file name are jargon
        hint = split_name(subject_hint)
        if "berserk" in hint:
            hint = ["berserk"] + [h for h in hint if h != "berserk"]
        before, after = hint, []
    action = toks[ai] if ai is not None else None
    if action and not before and after and "{o}" not in ACTIONS[action][0]:
        before, after = after, []
    subj_np = _np(before, adjs)
    if not subj_np and not action:
        return None
    obj_words = [article(_np([w])) for w in after] + [article(noun(m)) if m not in MASS else noun(m) for m in mats]
    obj = " and ".join(dict.fromkeys(obj_words))
    head = noun(before[-1]) if before else ""
    if action is None:
        if head in ANIMAL_CALLS or subj_np.split()[-1] in ANIMAL_CALLS:
            verb, ger = ANIMAL_CALLS.get(head) or ANIMAL_CALLS[subj_np.split()[-1]]
            subj = article(subj_np)
            return f"{subj} {_verb_agree(subj, verb)}", f"{subj} {ger}"
        if obj and (before[-1] in PROJECTILES or head in PROJECTILES):
            return f"{article(subj_np)} hits {obj}", f"{article(subj_np)} hitting {obj}"
        if not obj and len(before) == 1 and head in MELEE:
            return f"someone strikes with {article(subj_np)}", f"{article(subj_np)} strike"
        if not obj and len(before) == 1 and head in MISSILES:
            return f"{article(subj_np)} is shot", f"{article(subj_np)} flying through the air"
        np = article(subj_np) + (f" on {obj}" if obj else "")
        return np, np
    verb, ger = ACTIONS[action]
    if "{o}" in verb:
        o = obj or DEFAULT_OBJECT.get(action, "something")
        verb, ger = verb.replace("{o}", o), ger.replace("{o}", o)
    elif obj and action in {"hit"}:
        verb, ger = f"hits {obj}", f"hitting {obj}"
    elif obj and action in {"throw", "pull", "drop", "open", "close", "shake", "ring", "knock"}:
        verb, ger = f"{verb.split()[0]} {obj}", f"{ger.split()[0]} {obj}"
    elif obj:
        verb, ger = f"{verb} on {obj}", f"{ger} on {obj}"
    if action in {"select", "ack", "order", "idle"} and head in ANIMAL_CALLS:
        verb, ger = ANIMAL_CALLS[head]
    if not before and adjs:
        who = "something " + " ".join(ADJ_MAP.get(a, a) for a in adjs)
        return f"{who} {verb}", f"something {' '.join(adjs)} {ger}"
    if not subj_np:
        who = "someone" if action in SOMEONE_ACTIONS else "something"
        return f"{who} {verb}", ger
    if head in PROJECTILES and action in WEAPON_ACTIONS:
        return f"someone attacks with {article(subj_np)}", f"{article(subj_np)} attack"
    subj = article(subj_np)
    return f"{subj} {_verb_agree(subj, verb)}", f"{subj} {ger}"




SFX_TEMPLATES = ("{clause}", "the sound of {np}", "{np}", "a recording of {np}", "{clause}, sound effect",
                 "{np} {ctx}", "{clause} {ctx}")


def sfx_captions(name: str, folders: Sequence[str] = (), *, subject_hint: str | None = None,
                 n: int = 4, context: str | None = None) -> list[str]:
    """Captions for a sound effect from its file name and enclosing folder names.

    >>> sfx_captions("death_horse_11")[0]
    'a horse dies'
    """
    tokens = split_name(name)
    desc = describe(tokens, subject_hint=subject_hint)
    if desc and desc[0].startswith(("something ", "someone ")) and folders and not subject_hint:
        for folder in reversed(folders):  # "human/death/death_15" -> "a man dies"
            ftoks = [t for t in split_name(folder) if _category(t) == "noun" and t not in FOLDER_CONTEXT
                     and t not in FOLDER_SKIP]
            if ftoks:
                desc = describe(ftoks + tokens) or desc
                break
    if desc is None:
        for folder in reversed(folders):
            desc = describe(split_name(folder))
            if desc:
                break
    if desc is None:
        return []
    clause, np = desc
    if context is None:
        for folder in reversed(folders):
            for tok in split_name(folder):
                if tok in FOLDER_CONTEXT and FOLDER_CONTEXT[tok].split()[-1] not in clause:
                    context = FOLDER_CONTEXT[tok]
                    break
            if context:
                break
    caps = []
    for tpl in SFX_TEMPLATES:
        if "{ctx}" in tpl and not context:
            continue
        caps.append(tpl.format(clause=clause, np=np, ctx=context or ""))
    caps = dedupe(caps)
    return caps[:n] if context is None else dedupe([caps[0]] + [c for c in caps if context in c][:1] + caps[1:])[:n]


def phrase_captions(phrase: str, *, n: int = 4, context: str | None = None) -> list[str]:
    """Captions for an already written description ("A turkey." -> "a turkey gobbles" style)."""
    text = re.sub(r"\s+", " ", phrase.strip()).rstrip(".!")
    if not text:
        return []
    low = text[0].lower() + text[1:]
    caps = [low, f"the sound of {low}", f"a recording of {low}"]
    if context:
        caps.insert(1, f"{low} {context}")
    return dedupe(caps)[:n]


# --------------------------------------------------------------------------- music
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """MIDI pitch -> scientific pitch name (60 -> 'C4', 69 -> 'A4')."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def dynamics_words(velocity: int) -> tuple[str, str, str]:
    """(adjective, adverb, marking) for a MIDI velocity."""
    if velocity < 56:
        return "soft", "softly", "piano"
    if velocity < 96:
        return "medium", "at medium volume", "mezzo-forte"
    return "loud", "loudly", "forte"


def register_word(pitch: int) -> str:
    return "low" if pitch < 48 else "high" if pitch >= 72 else "middle"


def midi_note_captions(instrument: str, pitch: int, velocity: int, duration: float | None = None) -> list[str]:
    """e.g. ('piano', 60, 110) -> ['a piano plays C4, loud', 'a loud piano note, C4', ...]."""
    name = note_name(pitch)
    adj, adv, mark = dynamics_words(velocity)
    inst = instrument
    caps = [
        f"{article(inst)} plays {name}, {adj}",
        f"{article(adj + ' ' + inst)} note, {name}",
        f"{article(inst)} playing the note {name} {adv}",
        f"a single {register_word(pitch)} {inst} note ({name}), played {adv}",
        f"{name} played {adv} on {article(inst)}",
    ]
    if duration:
        secs = max(1, int(duration + 0.5))
        caps.append(f"{article(inst)} holds {name} for about {secs} second{'s' if secs > 1 else ''}, {adj}")
    return dedupe(caps)


def drum_hit_captions(drum: str, velocity: int, kit: str) -> list[str]:
    adj, adv, _ = dynamics_words(velocity)
    return dedupe([
        f"{article(adj + ' ' + drum)} hit",
        f"{article(drum)} struck {adv}",
        f"a single {drum} hit from {article(kit)} drum kit, {adj}",
        f"{drum}, one {adj} hit",
    ])


def drum_pattern_captions(style: str, bpm: int, kit: str, meter: str = "4/4") -> list[str]:
    """e.g. ('rock', 120, 'standard') -> ['a drum kit plays a rock beat at 120 bpm', ...]."""
    machine = kit in {"electronic", "TR-808", "808"}
    if style.endswith("fill"):
        player = "a drum machine" if machine else "a drummer"
        return dedupe([f"{player} plays {indefinite(style)} at {bpm} bpm", f"{indefinite(style)} on {indefinite(kit)} drum kit, {bpm} bpm",
                       f"a short drum fill across the toms at {bpm} beats per minute"])
    player = "a drum machine" if machine else "a drum kit"
    caps = [
        f"{player} plays {indefinite(style)} beat at {bpm} bpm",
        f"{indefinite(style)} drum groove, {bpm} beats per minute, {kit} kit",
        f"drums playing {indefinite(style)} rhythm at {bpm} bpm",
        f"{indefinite(kit)} drum kit playing {indefinite(style)} pattern in {meter} time, tempo {bpm}",
    ]
    return dedupe(caps)


def midi_phrase_captions(instrument: str, phrase: str, key: str, bpm: int, velocity: int) -> list[str]:
    """e.g. ('violin', 'rising scale', 'D major', 96, 80)."""
    adj, adv, _ = dynamics_words(velocity)
    caps = [
        f"{article(instrument)} plays {indefinite(key + ' ' + phrase)} at {bpm} bpm",
        f"{indefinite(key + ' ' + phrase)} on {article(instrument)}, {adj}",
        f"{article(instrument)} playing {indefinite(phrase)} in {key} {adv}",
        f"{article(adj + ' ' + instrument)} {phrase} in {key}, tempo {bpm}",
    ]
    return dedupe(caps)


# --------------------------------------------------------------------------- speech
GENDER_NOUNS = {"female": ("a woman", "a female voice", "woman"),
    "male": ("a man", "a male voice", "man"), None: ("a person", "a voice", "person")}


def speech_captions(text: str, gender: str | None, language: str = "English", *,
                    synthetic: bool = True, style: str | None = None) -> list[str]:
    """e.g. ("hello there", "female") -> ["a woman says 'hello there'", ...]."""
    who, voice, bare = GENDER_NOUNS.get(gender, GENDER_NOUNS[None])
    if style:
        who = article(f"{style} {bare}") if gender else article(style)
    t = text.strip().rstrip(".")
    lang = "" if language == "English" else f" in {language}"
    kind = "synthesized" if synthetic else "recorded"
    caps = [
        f"{who} says '{t}'{lang}",
        f"{voice} saying '{t}'{lang}",
        f"{article(kind + ' ' + bare)}'s voice says: {t}",
        f"speech{lang}: {who} says {t}",
    ]
    if lang:
        caps.append(f"{who} speaking {language}")
    return dedupe(caps)


def vocal_captions(who: str, action_phrase: str) -> list[str]:
    """Non-verbal vocal sounds: ('a pirate', 'laughs') -> ['a pirate laughs', ...]."""
    return dedupe([f"{who} {action_phrase}", f"the sound of {who} who {action_phrase}",
                   f"{who} {action_phrase}, cartoon voice"])
