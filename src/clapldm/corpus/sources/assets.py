"""Debian packages with richer metadata: hydrogen drum kits (drumkit.xml), Tux Paint stamps
(English .txt descriptions), Hedgewars (voice packs) and 0 A.D. (audio inside public.zip)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from clapldm.corpus import captions
from clapldm.corpus.sources.base import (
    AUDIO_EXTS,
    ClipSpec,
    SourceContext,
    find_audio,
    package_tree,
    safe_key,
)
from clapldm.corpus.sources.games import _spec, override_captions, ui_captions

# --------------------------------------------------------------------------- hydrogen drum kits
DRUM_WORDS = {
    "bd": "bass drum",
    "bassdrum": "bass drum",
    "snaredrum": "snare drum",
    "sidestick": "side stick",
    "floortom": "floor tom",
    "ft": "floor tom",
    "hhc": "closed hi-hat",
    "hho": "open hi-hat",
    "kick": "kick drum",
    "sd": "snare drum",
    "snare": "snare drum",
    "hh": "hi-hat",
    "hihat": "hi-hat",
    "hat": "hi-hat",
    "tom": "tom",
    "crash": "crash cymbal",
    "ride": "ride cymbal",
    "splash": "splash cymbal",
    "china": "china cymbal",
    "clap": "hand clap",
    "cb": "cowbell",
    "cowbell": "cowbell",
    "rim": "rimshot",
    "stick": "drum stick click",
    "perc": "percussion hit",
    "shaker": "shaker",
    "tamb": "tambourine",
    "tambourine": "tambourine",
    "conga": "conga",
    "bongo": "bongo",
    "clave": "claves",
    "cymbal": "cymbal",
    "oh": "open hi-hat",
    "ch": "closed hi-hat",
}
DRUM_ADJ = {
    "closed",
    "open",
    "pedal",
    "hi",
    "high",
    "mid",
    "low",
    "floor",
    "jazz",
    "rock",
    "soft",
    "hard",
    "big",
    "small",
    "dry",
    "wet",
    "electric",
    "electronic",
    "acoustic",
    "brush",
    "side",
    "edge",
    "bell",
    "muted",
}


def drum_name(name: str) -> str:
    """Hydrogen instrument name -> plain words ("Snare Jazz" -> "jazz snare drum",
    "Closed HH" -> "closed hi-hat")."""
    # "c#3 - stick" (GM-mapped kits)
    name = re.sub(r"^[a-g]#?\d\s*-\s*", "", name.strip(), flags=re.I)
    toks = [
        token.lower() for token in re.split(r"[\s_\-.()]+", name) if token and not token.isdigit()
    ]
    toks = [re.sub(r"\d+$", "", token) for token in toks if re.sub(r"\d+$", "", token)]
    if "side" in toks and "stick" in toks:
        return "side stick"
    heads = [DRUM_WORDS[token] for token in toks if token in DRUM_WORDS]
    adjs = [token for token in toks if token in DRUM_ADJ and token not in DRUM_WORDS]
    others = [token for token in toks if token not in DRUM_WORDS and token not in DRUM_ADJ]
    if heads:
        head = heads[0]
        if head.endswith("hi-hat"):
            adjs = [adjective for adjective in adjs if adjective not in ("hi", "high")]
        if head == "hi-hat" and "open" in toks:
            adjs = [adjective for adjective in adjs if adjective != "open"] + ["open"]
        return " ".join(dict.fromkeys(adjs + [head]))
    return " ".join(dict.fromkeys(adjs + others)) or "drum"


def _kit_files(inst: ET.Element) -> list[tuple[str, float, float]]:
    out = []
    for layer in inst.iter("layer"):
        fn = layer.findtext("filename")
        if fn:
            out.append((fn, float(layer.findtext("min") or 0), float(layer.findtext("max") or 1)))
    fn = inst.findtext("filename")
    if fn and not out:
        out.append((fn, 0.0, 1.0))
    return out


def collect_hydrogen(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "hydrogen-drumkits"
    root, lic = package_tree(ctx, pkg, "GPL-2+")
    base = root / "usr/share/hydrogen/data/drumkits"
    for xml in sorted(base.glob("*/drumkit.xml")):
        kit_dir = xml.parent
        try:
            tree = ET.parse(xml)
        except ET.ParseError:
            continue
        rootel = tree.getroot()
        for el in rootel.iter():  # drop XML namespaces
            el.tag = el.tag.split("}")[-1]
        kit = rootel.findtext("name") or kit_dir.name
        kit_words = re.sub(r"[_\-]+", " ", kit).strip()
        kit_words = (
            re.sub(r"^the\s+|\s*(drum\s*kit|drumkit|kit)\b", "", kit_words, flags=re.I).strip()
            or kit
        )
        for inst in rootel.iter("instrument"):
            iname = (inst.findtext("name") or "").strip()
            files = _kit_files(inst)
            if (
                not iname
                or not files
                or "empty" in iname.lower()
                or iname.lower().startswith("sample:")
                or re.fullmatch(r"[a-g]#?\d\s*-\s*", iname, re.I)
            ):
                continue
            drum = drum_name(iname)
            for fn, vmin, vmax in files:
                path = kit_dir / fn
                if not path.is_file() or not fn.lower().endswith(AUDIO_EXTS):
                    continue
                vel = int(round(127 * (vmin + vmax) / 2)) if len(files) > 1 else 100
                adj = captions.dynamics_words(vel)[0] if len(files) > 1 else None
                hit = f"{adj} {drum}" if adj else drum
                caps = captions.dedupe(
                    [
                        f"{captions.article(hit)} hit",
                        f"a single {drum} hit from the {kit_words} drum kit",
                        f"{captions.article(drum)} struck once" + (f", {adj}" if adj else ""),
                        f"drum sample: {drum}",
                    ]
                )
                yield _spec(
                    "hydrogen-drumkits",
                    pkg,
                    root,
                    path,
                    caps,
                    lic,
                    key_base=base,
                    item=f"{pkg}:{kit_dir.name}/{iname}",
                    meta={"kit": kit, "instrument": iname, "drum": drum, "layer_velocity": vel},
                )


# --------------------------------------------------------------------------- tux paint stamps
SPOKEN_FOLDERS = {"alphabets", "math", "asl"}
SOUND_FOLDERS = {"animals", "vehicles", "naturalforces", "hobbies", "household", "space", "sports"}
LANG_RE = re.compile(r"_([a-z]{2,3})(_[A-Za-z]{2})?$")
NUMBERS = "zero one two three four five six seven eight nine".split()


def _first_line(txt: Path) -> str | None:
    try:
        line = txt.read_text(errors="replace").splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    return line if line and "=" not in line.split()[0] else None


def _spoken_symbol(word: str) -> tuple[str, list[str]]:
    """(word, captions) of a stamp that speaks a letter or a digit ("3" -> "three")."""
    if word.isdigit() and int(word) < 10:
        word = NUMBERS[int(word)]
        return word, captions.speech_captions(word, None, synthetic=False) + [
            f"a voice counting: {word}"
        ]
    letter = word.upper()
    return word, captions.dedupe(
        [
            f"a person says the letter {letter}",
            f"a voice spelling the letter {letter}",
            f"someone reads out the letter {letter}",
        ]
    )


def _stamp_captions(description: str | None, stem: str, folders: Sequence[str]) -> list[str]:
    """Captions of a stamp's sound from its description ("A cow."), else its file name."""
    subject = (description or "").rstrip(".!")
    low = re.sub(r"^(a|an|the)\s+", "", subject.split(",")[0].lower()).strip()
    caps = []
    if low in captions.ANIMAL_CALLS:
        verb, gerund = captions.ANIMAL_CALLS[low]
        caps = [
            f"{captions.article(low)} {verb}",
            f"the sound of {captions.article(low)} {gerund}",
        ]
    if subject:
        return captions.dedupe(caps + captions.phrase_captions(subject))
    return captions.sfx_captions(stem, folders)


def _tuxpaint_clip(path: Path, folders: tuple[str, ...]) -> tuple[list[str], str, dict] | None:
    """(captions, item stem, meta) of one stamp sound, or None when it is left out."""
    stem = path.stem
    description_of = re.match(r"(.*)_desc$", stem)
    if description_of:  # spoken English description of the stamp
        txt = _first_line(path.with_name(description_of.group(1) + ".txt"))
        if not txt:
            return None
        spoken = txt[0].lower() + txt[1:] if len(txt) > 1 and txt[1].islower() else txt
        caps = captions.speech_captions(spoken, None, synthetic=False)
        meta = {"text": txt, "language": "English", "kind": "speech"}
        return caps, description_of.group(1), meta
    if "_desc_" in stem:
        return None  # descriptions in other languages
    lang = LANG_RE.search(stem)
    if lang and not lang.group(1) == "en":
        return None
    base_stem = LANG_RE.sub("", stem) if lang else stem
    txt = _first_line(path.with_name(base_stem + ".txt"))
    if set(folders) & SPOKEN_FOLDERS:
        if "english" not in folders and "math" not in folders:
            return None  # letters of other alphabets
        word, caps = _spoken_symbol(base_stem.split("_")[0])
        return caps, base_stem, {"text": word, "language": "English", "kind": "speech"}
    if folders[0] not in SOUND_FOLDERS or (txt and (len(txt) > 60 or not txt[:1].isupper())):
        return None  # stamp sounds of flags, faces, clothes... rarely sound like their picture
    return _stamp_captions(txt, base_stem, folders), base_stem, {"text": txt} if txt else {}


def collect_tuxpaint(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "tuxpaint-stamps-default"
    root, lic = package_tree(ctx, pkg, "GPL-2")
    base = root / "usr/share/tuxpaint/stamps"
    for path in find_audio(base, ()):
        folders = path.relative_to(base).parts[:-1]
        clip = _tuxpaint_clip(path, folders)
        if clip is None or not clip[0]:
            continue
        caps, item_stem, meta = clip
        yield _spec(
            "tuxpaint",
            pkg,
            root,
            path,
            caps,
            lic,
            key_base=base,
            item=f"{pkg}:{'/'.join(folders)}/{item_stem}",
            meta=meta,
        )


# --------------------------------------------------------------------------- hedgewars
HEDGE_STYLES = {
    "default": "a cartoon hedgehog",
    "classic": "a cartoon hedgehog",
    "pirate": "a pirate",
    "robot": "a robot",
    "singer": "a singing cartoon voice",
    "russian": "a man with a Russian accent",
    "british": "a British man",
    "surfer": "a surfer dude",
    "mobster": "a mobster",
    "hillbilly": "a hillbilly",
    "default_uk": "a cartoon voice speaking Ukrainian",
    "default_ru": "a cartoon voice speaking Russian",
    "default_pl": "a cartoon voice speaking Polish",
    "default_es": "a cartoon voice speaking Spanish",
    "russian_pl": "a cartoon voice speaking Polish",
}
HEDGE_VOCAL = {
    "laugh": "laughs",
    "ow": "says ow",
    "ouch": "says ouch",
    "ooff": "grunts",
    "jump": "grunts as it jumps",
    "firepunch": "shouts while punching",
    "poisoncough": "coughs",
    "poisonmoan": "moans",
    "nooo": "screams no",
    "hmm": "says hmm",
    "kamikaze": "shouts kamikaze",
}
HEDGE_TEXT = {
    "yessir": "yes sir",
    "gonnagetyou": "gonna get you",
    "illgetyou": "I'll get you",
    "ohdear": "oh dear",
    "comeonthen": "come on then",
    "firstblood": "first blood",
    "watchthis": "watch this",
    "youllregretthat": "you'll regret that",
    "cutitout": "cut it out",
    "whatthe": "what the",
    "runaway": "run away",
    "justyouwait": "just you wait",
    "leavemealone": "leave me alone",
    "byebye": "bye bye",
    "sameteam": "same team",
    "thisoneismine": "this one is mine",
    "uh-oh": "uh oh",
    "takecover": "take cover",
    "solong": "so long",
    "watchit": "watch it",
    "enemydown": "enemy down",
    "flyaway": "fly away",
    "reinforcements": "reinforcements",
    "missed": "missed",
}
HEDGE_SFX = {
    "hogchant": "a hedgehog chants",
    "yoohoo": "someone calls yoo-hoo",
    "tardis": "a time machine materializes",
    "birdylay": "a bird lays an egg",
    "homerun": "a crowd cheers a home run",
    "suddendeath": "a dramatic alarm",
    "ride_of_the_valkyries": "a short orchestral fanfare",
    "hell_ow": "a demon says ow",
    "hell_growl": "a demon growls",
    "hell_ooff": "a demon grunts",
    "hell_ugh": "a demon groans",
    "hellish": "a demonic laugh",
    "2d": "a piano note",
    "extratime": "a bell signals extra time",
    "skip": "a short interface click",
    "denied": "an error buzzer",
    "placed": "a short click",
    "switchhog": "a short interface blip",
    "countdown": "a countdown beep",
}


def collect_hedgewars(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "hedgewars-data"
    root, lic = package_tree(ctx, pkg, "GFDL-1.3")
    base = root / "usr/share/games/hedgewars/Data/Sounds"
    for path in find_audio(base, ()):
        parts = path.relative_to(base).parts
        stem = path.stem
        key = re.sub(r"\d+$", "", stem).lower()
        meta = {}
        if parts[0] == "voices":
            style = parts[1]
            who = HEDGE_STYLES.get(style.lower(), f"a {style.lower()} cartoon voice")
            if key in HEDGE_VOCAL:
                caps = captions.vocal_captions(who, HEDGE_VOCAL[key])
            elif "speaking" in who:
                caps = [
                    f"{who} shouts a short phrase",
                    f"{who}",
                    f"a short shouted phrase, {who.split('speaking ')[1]}",
                ]
            else:
                text = HEDGE_TEXT.get(key, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem).lower())
                caps = captions.dedupe(
                    [
                        f"{who} says '{text}'",
                        f"{who} shouting '{text}'",
                        f"a cartoon character's voice says {text}",
                    ]
                )
                meta = {"text": text}
            item = f"{pkg}:voice/{key}"  # one phrase = one item across voice packs
            meta.update({"voice": style, "kind": "voice"})
        else:
            if re.fullmatch(r"\d[A-G]", stem):
                caps = [
                    f"a piano note {stem[1]}",
                    f"a single {stem[1]} note on a piano",
                    "a short piano tone",
                ]
            else:
                desc = next(
                    (
                        description
                        for prefix, description in HEDGE_SFX.items()
                        if key.startswith(prefix)
                    ),
                    None,
                )
                caps = (
                    captions.dedupe([desc, f"{desc} (sound effect)"])
                    if desc
                    else override_captions(pkg, stem) or captions.sfx_captions(stem)
                )
            item = None
        if caps:
            yield _spec(
                "hedgewars-data", pkg, root, path, caps, lic, key_base=base, item=item, meta=meta
            )


# --------------------------------------------------------------------------- 0 A.D.
ZERO_AD_LANGS = {
    "greek": "Ancient Greek",
    "latin": "Latin",
    "napatan": "Meroitic",
    "persian": "Old Persian",
}
ZERO_AD_ORDERS = {
    "walk": "to move",
    "attack": "to attack",
    "gather": "to gather",
    "build": "to build",
    "repair": "to repair",
    "heal": "to heal",
    "garrison": "to take shelter",
    "herd": "to herd",
    "trade": "to trade",
    "fight": "to fight",
    "my_lord": "",
    "what_is_it": "",
    "go_out_against": "to attack",
}


def _zero_ad_voice(name: str, folders: list[str]) -> tuple[list[str], dict]:
    """Captions and meta of a unit's spoken acknowledgement (voice/<language>/...)."""
    language = (
        ZERO_AD_LANGS.get(folders[1], "an ancient language")
        if len(folders) > 1
        else ("an ancient language")
    )
    tokens = captions.split_name(name)
    if "dog" in tokens:
        return captions.sfx_captions("dog_bark"), {}
    who = "a woman" if "female" in tokens else "a man"
    rest = re.sub(r"^civ_(fe)?male_", "", Path(name).stem)
    order = next(
        (phrase for prefix, phrase in ZERO_AD_ORDERS.items() if rest.startswith(prefix)), None
    )
    if order is None:
        return [], {}
    what = f"acknowledges an order {order}".strip() if order else "answers 'my lord'"
    caps = captions.dedupe(
        [
            f"{who} {what}, speaking {language}",
            f"{who} speaking {language}",
            f"a soldier's voice in {language}",
            f"{who} says a short phrase in {language}",
        ]
    )
    return caps, {"language": language, "kind": "voice"}


def zero_ad_captions(parts: tuple[str, ...]) -> tuple[list[str], dict, bool]:
    """Captions, meta, allow-segments for one audio/ member path of public.zip."""
    name, folders = parts[-1], list(parts[1:-1])
    meta: dict = {}
    if folders and folders[0] == "voice":
        caps, meta = _zero_ad_voice(name, folders)
        return caps, meta, False
    over = override_captions("0ad-data", Path(name).stem)
    if over:
        return over, meta, folders[:1] == ["ambient"]
    if folders[:2] == ["attack", "fire"]:
        return (
            ["flames crackle as something burns", "a burning fire", "the roar of fire"],
            meta,
            False,
        )
    if folders[:2] == ["interface", "select"] and len(folders) > 2 and folders[2] == "building":
        what = " ".join(captions.split_name(re.sub(r"^sel_", "", name)))
        return (
            captions.dedupe(
                [
                    f"sounds from {captions.article(what)}",
                    f"the ambience of {captions.article(what)}",
                    f"{what} sounds",
                ]
            ),
            meta,
            False,
        )
    if folders[:2] == ["interface", "complete"]:
        return (
            [
                "a short fanfare announcing a completed building",
                "a triumphant horn fanfare",
                "a fanfare",
            ],
            meta,
            False,
        )
    if folders[:1] == ["interface"]:
        return ui_captions(name, folders), meta, False
    if "impact" in folders:
        toks = captions.split_name(name)
        if toks and toks[0] not in captions.PROJECTILES and len(toks) >= 2:
            return (
                captions.dedupe(
                    [
                        f"something hits {captions.article(toks[1] + ' ' + toks[0])}",
                        f"an impact on {captions.article(toks[1] + ' ' + toks[0])}",
                    ]
                ),
                meta,
                False,
            )
    caps = captions.sfx_captions(name, folders)
    return caps, meta, folders[:1] == ["ambient"]


def collect_0ad(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "0ad-data"
    root, lic = package_tree(ctx, pkg, "CC-BY-SA-3.0")
    zpath = root / "usr/share/games/0ad/mods/public/public.zip"
    with zipfile.ZipFile(zpath) as zf:
        names = sorted(
            member
            for member in zf.namelist()
            if member.startswith("audio/")
            and member.lower().endswith(AUDIO_EXTS)
            and not member.startswith("audio/music/")
        )
        for member in names:
            parts = tuple(member.split("/"))
            caps, meta, segments = zero_ad_captions(parts)
            if not caps:
                continue
            key = safe_key("/".join(parts[1:]))
            item = f"{pkg}:{'/'.join(parts[1:-1])}/{captions.item_key(parts[-1])}"
            meta = {"orig": "public.zip:" + member, "name": Path(member).stem, **meta}
            yield ClipSpec(
                key=key,
                item=item,
                captions=caps,
                license=lic.license_for("public/" + member),
                meta=meta,
                data=zf.read(member),
                allow_segments=segments,
                package=pkg,
            )
