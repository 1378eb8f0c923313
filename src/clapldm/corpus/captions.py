"""Caption writing for the offline corpus.

Sound-effect captions are built from file names and folders with small word tables (game
jargon -> plain words, actions -> verbs, materials, animal calls), never per-file hand
captions. Every function returns several paraphrases, best first, so the text tower sees
varied wordings of the same sound. MIDI and speech captions are written from exact metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from clapldm.corpus.sources.words import (  # noqa: F401  (re-exported word tables)
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
_camel_re = re.compile(
    r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])"
)


def _vocabulary() -> set[str]:
    words = (
        set(NOUNS)
        | set(ANIMAL_CALLS)
        | set(ACTIONS)
        | set(ACTION_ALIASES)
        | MATERIALS
        | PROJECTILES
    )
    words |= SOUND_NOUNS | ADJECTIVES | set(ADJ_MAP) | set(FOLDER_CONTEXT) | EXTRA_WORDS
    return {word for word in words if "_" not in word and " " not in word and len(word) > 1}


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
    length = len(word)
    best: list[tuple[int, list[str]] | None] = [None] * (length + 1)
    best[0] = (0, [])
    for start in range(length):
        reached = best[start]
        if reached is None:
            continue
        score, parts = reached
        for end in range(start + 2, length + 1):
            piece = word[start:end]
            if piece in vocab:
                candidate = (score + len(piece) ** 2, parts + [piece])
                known = best[end]
                if known is None or candidate[0] > known[0]:
                    best[end] = candidate
    whole = best[length]
    if whole is not None and len(whole[1]) > 1:
        return whole[1]
    # allow an unknown prefix of >= 2 letters (jargon like "ele" in "eleattack")
    for split_at in range(2, length - 2):
        head, tail = word[:split_at], word[split_at:]
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
    out = [
        token
        for position, token in enumerate(out)
        if not (position + 1 < len(out) and token in (out[position + 1] + "s", out[position + 1]))
    ]
    position = 0
    merged: list[str] = []
    while position < len(out):  # known two-word nouns ("coal mine") become one token
        if position + 1 < len(out) and f"{out[position]}_{out[position + 1]}" in NOUNS:
            merged.append(f"{out[position]}_{out[position + 1]}")
            position += 2
        else:
            merged.append(out[position])
            position += 1
    return merged


def item_key(name: str) -> str:
    """Stable id of the sound an asset is a take of: tokens joined by '_'
    ("death_horse_11" -> "death_horse")."""
    return "_".join(split_name(name)) or re.sub(r"\W+", "_", name.lower()).strip("_")


# --------------------------------------------------------------------------- phrase helpers
def article(phrase: str) -> str:
    """Prefix 'a'/'an' unless the phrase is plural, a mass noun or already determined."""
    if not phrase:
        return phrase
    first = phrase.split()[0]
    last = phrase.split()[-1]
    if first in SMALL_WORDS or first in {
        "some",
        "two",
        "three",
        "several",
        "many",
        "someone",
        "something",
    }:
        return phrase
    if (
        phrase in MASS
        or last in MASS
        or (last.endswith("s") and not last.endswith(("ss", "us", "is")))
    ):
        return phrase
    return (
        "an " if first[0] in "aeiou" and not first.startswith(("uni", "eu", "one")) else "a "
    ) + phrase


def indefinite(phrase: str) -> str:
    """Always 'a'/'an' + phrase (for countable phrases built from possibly mass-noun words)."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def noun(tok: str) -> str:
    return NOUNS.get(tok, tok.replace("_", " "))


def dedupe(captions: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for caption in captions:
        caption = re.sub(r"\s+", " ", caption).strip(" ,.")
        if caption and caption.lower() not in seen:
            seen.add(caption.lower())
            out.append(caption)
    return out


HUMAN_FIX = [
    (r"\bfemale (human|man|male|person)\b", "woman"),
    (r"\bmale (human|man|person)\b", "man"),
    (r"\bold (human|man|male)\b", "old man"),
    (r"\bhuman\b", "man"),
    (r"^male$", "man"),
    (r"^female$", "woman"),
    (r"\bfemale\b(?= (civilian|worker|citizen))", "female"),
]


def _category(tok: str) -> str:
    if tok in ADJ_MAP or (tok in ADJECTIVES and tok not in MATERIALS):
        return "adj"
    if tok in ACTIONS:
        return "act"
    if tok in MATERIALS:
        return "mat"
    return "noun"


def _noun_phrase(words: Sequence[str], adjectives: Sequence[str] = ()) -> str:
    """Plain words for name tokens, adjectives first ("f_human" -> "woman")."""
    plain = [ADJ_MAP.get(adjective, adjective) for adjective in adjectives]
    phrase = " ".join(dict.fromkeys(plain + [noun(word) for word in words]))
    for pattern, replacement in HUMAN_FIX:
        phrase = re.sub(pattern, replacement, phrase)
    return phrase.strip()


def _verb_agree(subject: str, verb: str) -> str:
    """Plural subjects ('cattle', 'crickets') take 'low'/'chirp' rather than 'lows'."""
    last = subject.split()[-1]
    plural = last in PLURALS or (
        last.endswith("s") and not last.endswith(("ss", "us", "is", "ics")) and last not in MASS
    )
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


@dataclass
class _Roles:
    """Name tokens sorted into what they say: "noun", "act", "adj" or "mat" (material)."""

    words: list[str]
    roles: list[str]
    adjectives: list[str]
    materials: list[str]
    action_at: int | None  # index of the first action word

    @property
    def action(self) -> str | None:
        return self.words[self.action_at] if self.action_at is not None else None


@dataclass
class _Sentence:
    """The pieces one description is written from: who or what, doing what, to what."""

    subject: str  # noun phrase without article ("old man"); "" when the name gives none
    subject_words: list[str]  # the tokens the subject came from
    head: str  # plain word of the last subject token ("" when none)
    action: str | None  # a key of ACTIONS
    objects: str  # "a wall and dirt"; "" when none
    adjectives: list[str]


def _sort_roles(tokens: Sequence[str], subject_hint: str | None) -> _Roles:
    """Give each token a role, resolving the words that could be read two ways."""
    words = [ACTION_ALIASES.get(token, token) for token in tokens]
    roles = [_category(word) for word in words]
    has_noun = "noun" in roles
    actions = [index for index, role in enumerate(roles) if role == "act"]
    # a lone action word that is also a sound ("fire", "splash", "hammer") is the subject
    if (
        actions
        and not has_noun
        and not subject_hint
        and words[actions[0]] in SOUND_NOUNS | PROJECTILES
    ):
        roles[actions[0]] = "noun"
        actions = actions[1:]
    adjectives = [word for word, role in zip(words, roles) if role == "adj"]
    materials = [word for word, role in zip(words, roles) if role == "mat"]
    intransitive = bool(actions) and "{o}" not in ACTIONS[words[actions[0]]][0]
    # with no other subject a material is the thing heard ("wood", "metal impact")
    if "noun" not in roles and (not actions or intransitive) and materials and not subject_hint:
        roles = ["noun" if role == "mat" else role for role in roles]
        materials = []
    first_noun = next((index for index, role in enumerate(roles) if role == "noun"), None)
    if first_noun is not None:
        # a material before the subject describes it ("metal door")
        leading = [
            index for index, role in enumerate(roles) if role == "mat" and index < first_noun
        ]
        if leading and noun(words[first_noun]) != "footsteps":
            adjectives = [words[index] for index in leading] + adjectives
            materials = [
                word
                for index, word in enumerate(words)
                if roles[index] == "mat" and index not in leading
            ]
            for index in leading:
                roles[index] = "adj"
    return _Roles(words, roles, adjectives, materials, actions[0] if actions else None)


def _split_subject(roles: _Roles, subject_hint: str | None) -> tuple[list[str], list[str]]:
    """(subject tokens, object tokens): nouns before the action and nouns after it."""
    at = roles.action_at
    nouns = [
        (index, word)
        for index, (word, role) in enumerate(zip(roles.words, roles.roles))
        if role == "noun"
    ]
    before = [word for index, word in nouns if at is None or index < at]
    after = [word for index, word in nouns if at is not None and index > at]
    if subject_hint:  # the folder names the subject (a game unit); file-name nouns are jargon
        hint = split_name(subject_hint)
        if "berserk" in hint:
            hint = ["berserk"] + [word for word in hint if word != "berserk"]
        return hint, []
    action = roles.action
    if action and not before and after and "{o}" not in ACTIONS[action][0]:
        return after, []  # an intransitive action: its only noun is the subject
    return before, after


def _object_phrase(object_words: Sequence[str], materials: Sequence[str]) -> str:
    """ "a wall and dirt": object nouns with articles, then materials (mass nouns bare)."""
    phrases = [article(_noun_phrase([word])) for word in object_words] + [
        noun(material) if material in MASS else article(noun(material)) for material in materials
    ]
    return " and ".join(dict.fromkeys(phrases))


def _without_action(sentence: _Sentence) -> tuple[str, str]:
    """A name with no action word: an animal call, a hit, a weapon, or the thing itself."""
    subject, head, objects = sentence.subject, sentence.head, sentence.objects
    last = subject.split()[-1]
    single = len(sentence.subject_words) == 1
    if head in ANIMAL_CALLS or last in ANIMAL_CALLS:
        verb, gerund = ANIMAL_CALLS.get(head) or ANIMAL_CALLS[last]
        subject = article(subject)
        return f"{subject} {_verb_agree(subject, verb)}", f"{subject} {gerund}"
    if objects and (sentence.subject_words[-1] in PROJECTILES or head in PROJECTILES):
        return f"{article(subject)} hits {objects}", f"{article(subject)} hitting {objects}"
    if not objects and single and head in MELEE:
        return f"someone strikes with {article(subject)}", f"{article(subject)} strike"
    if not objects and single and head in MISSILES:
        return f"{article(subject)} is shot", f"{article(subject)} flying through the air"
    phrase = article(subject) + (f" on {objects}" if objects else "")
    return phrase, phrase


def _verb_phrases(sentence: _Sentence) -> tuple[str, str]:
    """(verb phrase, gerund phrase) of the action, with its objects ("hits a wall")."""
    action, objects = sentence.action, sentence.objects
    assert action is not None
    verb, gerund = ACTIONS[action]
    if "{o}" in verb:
        target = objects or DEFAULT_OBJECT.get(action, "something")
        verb, gerund = verb.replace("{o}", target), gerund.replace("{o}", target)
    elif objects and action in {"hit"}:
        verb, gerund = f"hits {objects}", f"hitting {objects}"
    elif objects and action in {"throw", "pull", "drop", "open", "close", "shake", "ring", "knock"}:
        verb, gerund = f"{verb.split()[0]} {objects}", f"{gerund.split()[0]} {objects}"
    elif objects:
        verb, gerund = f"{verb} on {objects}", f"{gerund} on {objects}"
    if action in {"select", "ack", "order", "idle"} and sentence.head in ANIMAL_CALLS:
        verb, gerund = ANIMAL_CALLS[sentence.head]  # a unit's acknowledgement: its call
    return verb, gerund


def _with_action(sentence: _Sentence) -> tuple[str, str]:
    """A name with an action word: someone or something doing it."""
    verb, gerund = _verb_phrases(sentence)
    subject = sentence.subject
    if not sentence.subject_words and sentence.adjectives:
        plain = " ".join(ADJ_MAP.get(adjective, adjective) for adjective in sentence.adjectives)
        return f"something {plain} {verb}", f"something {' '.join(sentence.adjectives)} {gerund}"
    if not subject:
        who = "someone" if sentence.action in SOMEONE_ACTIONS else "something"
        return f"{who} {verb}", gerund
    if sentence.head in PROJECTILES and sentence.action in WEAPON_ACTIONS:
        return f"someone attacks with {article(subject)}", f"{article(subject)} attack"
    subject = article(subject)
    return f"{subject} {_verb_agree(subject, verb)}", f"{subject} {gerund}"


def describe(tokens: Sequence[str], *, subject_hint: str | None = None) -> tuple[str, str] | None:
    """Return (clause, noun phrase) for name tokens, e.g. ("a horse dies", "a horse dying").

    Steps: sort the tokens into roles (`_sort_roles`), split the nouns into subject and
    objects around the action (`_split_subject`), then write the sentence with or without
    an action. None when the name holds neither a subject nor an action.
    """
    roles = _sort_roles(tokens, subject_hint)
    subject_words, object_words = _split_subject(roles, subject_hint)
    sentence = _Sentence(
        subject=_noun_phrase(subject_words, roles.adjectives),
        subject_words=subject_words,
        head=noun(subject_words[-1]) if subject_words else "",
        action=roles.action,
        objects=_object_phrase(object_words, roles.materials),
        adjectives=roles.adjectives,
    )
    if not sentence.subject and not sentence.action:
        return None
    return _without_action(sentence) if sentence.action is None else _with_action(sentence)


SFX_TEMPLATES = (
    "{clause}",
    "the sound of {np}",
    "{np}",
    "a recording of {np}",
    "{clause}, sound effect",
    "{np} {ctx}",
    "{clause} {ctx}",
)


def sfx_captions(
    name: str,
    folders: Sequence[str] = (),
    *,
    subject_hint: str | None = None,
    count: int = 4,
    context: str | None = None,
) -> list[str]:
    """Captions for a sound effect from its file name and enclosing folder names.

    >>> sfx_captions("death_horse_11")[0]
    'a horse dies'
    """
    tokens = split_name(name)
    desc = describe(tokens, subject_hint=subject_hint)
    if desc and desc[0].startswith(("something ", "someone ")) and folders and not subject_hint:
        for folder in reversed(folders):  # "human/death/death_15" -> "a man dies"
            ftoks = [
                token
                for token in split_name(folder)
                if _category(token) == "noun"
                and token not in FOLDER_CONTEXT
                and token not in FOLDER_SKIP
            ]
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
    clause, phrase = desc
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
        caps.append(tpl.format(clause=clause, np=phrase, ctx=context or ""))
    caps = dedupe(caps)
    return (
        caps[:count]
        if context is None
        else dedupe([caps[0]] + [caption for caption in caps if context in caption][:1] + caps[1:])[
            :count
        ]
    )


def phrase_captions(phrase: str, *, count: int = 4, context: str | None = None) -> list[str]:
    """Captions for an already written description ("A turkey." -> "a turkey gobbles" style)."""
    text = re.sub(r"\s+", " ", phrase.strip()).rstrip(".!")
    if not text:
        return []
    low = text[0].lower() + text[1:]
    caps = [low, f"the sound of {low}", f"a recording of {low}"]
    if context:
        caps.insert(1, f"{low} {context}")
    return dedupe(caps)[:count]


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


def midi_note_captions(
    instrument: str, pitch: int, velocity: int, duration: float | None = None
) -> list[str]:
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
        caps.append(
            f"{article(inst)} holds {name} for about {secs} second{'s' if secs > 1 else ''}, {adj}"
        )
    return dedupe(caps)


def drum_hit_captions(drum: str, velocity: int, kit: str) -> list[str]:
    adj, adv, _ = dynamics_words(velocity)
    return dedupe(
        [
            f"{article(adj + ' ' + drum)} hit",
            f"{article(drum)} struck {adv}",
            f"a single {drum} hit from {article(kit)} drum kit, {adj}",
            f"{drum}, one {adj} hit",
        ]
    )


def drum_pattern_captions(style: str, bpm: int, kit: str, meter: str = "4/4") -> list[str]:
    """e.g. ('rock', 120, 'standard') -> ['a drum kit plays a rock beat at 120 bpm', ...]."""
    machine = kit in {"electronic", "TR-808", "808"}
    if style.endswith("fill"):
        player = "a drum machine" if machine else "a drummer"
        return dedupe(
            [
                f"{player} plays {indefinite(style)} at {bpm} bpm",
                f"{indefinite(style)} on {indefinite(kit)} drum kit, {bpm} bpm",
                f"a short drum fill across the toms at {bpm} beats per minute",
            ]
        )
    player = "a drum machine" if machine else "a drum kit"
    caps = [
        f"{player} plays {indefinite(style)} beat at {bpm} bpm",
        f"{indefinite(style)} drum groove, {bpm} beats per minute, {kit} kit",
        f"drums playing {indefinite(style)} rhythm at {bpm} bpm",
        f"{indefinite(kit)} drum kit playing {indefinite(style)} pattern in {meter} time, "
        f"tempo {bpm}",
    ]
    return dedupe(caps)


def midi_phrase_captions(
    instrument: str, phrase: str, key: str, bpm: int, velocity: int
) -> list[str]:
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
GENDER_NOUNS = {
    "female": ("a woman", "a female voice", "woman"),
    "male": ("a man", "a male voice", "man"),
    None: ("a person", "a voice", "person"),
}


def speech_captions(
    text: str,
    gender: str | None,
    language: str = "English",
    *,
    synthetic: bool = True,
    style: str | None = None,
) -> list[str]:
    """e.g. ("hello there", "female") -> ["a woman says 'hello there'", ...]."""
    who, voice, bare = GENDER_NOUNS.get(gender, GENDER_NOUNS[None])
    if style:
        who = article(f"{style} {bare}") if gender else article(style)
    spoken = text.strip().rstrip(".")
    lang = "" if language == "English" else f" in {language}"
    kind = "synthesized" if synthetic else "recorded"
    caps = [
        f"{who} says '{spoken}'{lang}",
        f"{voice} saying '{spoken}'{lang}",
        f"{article(kind + ' ' + bare)}'s voice says: {spoken}",
        f"speech{lang}: {who} says {spoken}",
    ]
    if lang:
        caps.append(f"{who} speaking {language}")
    return dedupe(caps)


def vocal_captions(who: str, action_phrase: str) -> list[str]:
    """Non-verbal vocal sounds: ('a pirate', 'laughs') -> ['a pirate laughs', ...]."""
    return dedupe(
        [
            f"{who} {action_phrase}",
            f"the sound of {who} who {action_phrase}",
            f"{who} {action_phrase}, cartoon voice",
        ]
    )
