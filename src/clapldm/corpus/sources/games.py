"""Debian game and desktop packages whose sound files have descriptive names.

Each collector walks one unpacked package and yields ClipSpecs; captions come from
:mod:`clapldm.corpus.captions` plus a few small per-package word tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from clapldm.corpus import captions
from clapldm.corpus.sources.base import (
    ClipSpec,
    SourceContext,
    copyright_for,
    find_audio,
    package_tree,
    safe_key,
)

# desktop event names -> description (matched on the joined name tokens, first hit wins)
UI_EVENTS: list[tuple[str, str]] = [
    (r"channel.*front.*left", "a voice says 'front left'"),
    (r"channel.*front.*right", "a voice says 'front right'"),
    (r"channel.*front.*center", "a voice says 'front center'"),
    (r"channel.*rear.*left", "a voice says 'rear left'"),
    (r"channel.*rear.*right", "a voice says 'rear right'"),
    (r"channel.*rear.*center", "a voice says 'rear center'"),
    (r"channel.*side.*left", "a voice says 'side left'"),
    (r"channel.*side.*right", "a voice says 'side right'"),
    (r"test.*signal", "a test signal of pink noise"),
    (r"phone.*(incoming|ring)|^phone$", "a phone ringing"),
    (r"phone.*busy", "a busy telephone signal"),
    (r"phone.*(outgoing|calling|dial)", "a telephone dialing tone"),
    (r"alarm.*clock", "an alarm clock ringing"),
    (r"camera.*shutter|screen.*capture", "a camera shutter click"),
    (r"trash", "paper being crumpled as the trash is emptied"),
    (r"card.*shuffle", "playing cards being shuffled"),
    (r"battery.*low|power.*unplug.*battery", "a low battery warning beep"),
    (r"error.*(critical|serious)|critical", "a harsh critical error alert"),
    (r"error", "an error alert tone"),
    (r"warning", "a warning alert chime"),
    (r"question", "a questioning prompt chime"),
    (r"info", "a soft information chime"),
    (r"(message|email|mail|im.*in|chat|receive)", "a short notification chime for a new message"),
    (r"bell", "a bell dings"),
    (r"complete|finish|done", "a bright chime signalling completion"),
    (
        r"(device|power).*(added|plug$|plug.*in)|power.*plug$|^device.*added",
        "a rising two-note notification tone",
    ),
    (r"(device|power).*(removed|unplug)", "a falling two-note notification tone"),
    (r"(log.*in|login|startup|start|ready|welcome)", "a gentle startup jingle"),
    (r"(log.*out|logout|logoff|shutdown|leave)", "a short shutdown jingle"),
    (r"minimi[sz]e|maximi[sz]e|window|slide|move", "a soft whoosh of a window moving"),
    (r"volume", "a short soft click"),
    (r"click|toggle|activate|select|button|checkbox", "a short interface click"),
    (r"connect.*(lost|problem)|network.*lost|cant.*connect", "a descending disconnection tone"),
    (r"connect|network", "an ascending connection tone"),
    (r"nudge", "a buzzing nudge alert"),
    (r"arrive|join", "a short chime as someone joins"),
    (r"expand|contract|slider", "a short interface click"),
    (r"timer", "a clock ticking"),
    (r"game.*start", "a short fanfare as a game starts"),
]


def ui_caption(tokens: list[str]) -> str | None:
    joined = " ".join(tokens)
    for pat, desc in UI_EVENTS:
        if re.search(pat, joined):
            return desc
    return None


def ui_captions(name: str, folders=()) -> list[str]:
    toks = [
        token
        for token in captions.split_name(name)
        if token not in {"oxygen", "sys", "x", "deepin", "k3b", "sound"}
    ]
    desc = ui_caption(toks)
    if desc is None:
        return captions.sfx_captions(name, folders) or ["a computer notification sound"]
    if desc.startswith("a voice says"):
        return captions.dedupe(
            [
                desc,
                desc.replace("a voice says", "a synthetic voice announcing"),
                f"speech: {desc[13:]}",
            ]
        )
    return captions.dedupe(
        [desc, f"{desc} from a computer", f"a user interface sound: {desc}", f"the sound of {desc}"]
    )


# per-package names whose words alone do not say what is heard (matched on the start of the stem)
OVERRIDES: dict[str, dict[str, str]] = {
    "widelands-data": {
        "toolsmith": "a blacksmith hammering metal",
        "smith": "a blacksmith hammering metal",
        "sharpening": "a blade being sharpened on a whetstone",
        "mortar": "a mortar and pestle grinding",
        "weaver": "a loom weaving cloth",
        "weaving": "a loom weaving cloth",
        "stonegrind": "a millstone grinding",
        "stonemason": "a stonemason chiseling stone",
        "stonecutter": "a stonemason chiseling stone",
        "goldspin": "a spinning wheel whirring",
        "meal": "cooking sounds in a tavern kitchen",
        "ration": "cooking sounds in a tavern kitchen",
        "inn": "cooking and chatter in an inn",
        "biginn": "cooking and chatter in an inn",
        "tavern": "cooking and chatter in a tavern",
        "farm_animal": "farm animals",
        "fisher_pull": "a fisherman pulls in a net",
        "fisher_throw": "a fisherman throws a net",
        "furnace": "a roaring furnace",
        "fizzle": "hot metal fizzles in water",
        "ironping": "a metallic ping",
        "goldping": "a metallic ping",
        "under_attack": "an alarm horn signalling an attack",
        "site_occupied": "a short military fanfare",
        "blackwood": "wood being hammered",
        "geologist": "a hammer tapping on rock",
        "scythe": "a scythe cutting grain",
        "mill_turning": "a mill wheel turning",
        "hammering": "hammering on wood",
        "sawing": "someone sawing wood",
        "benchsaw": "a bench saw cutting wood",
        "sawmill": "a sawmill cutting wood",
        "beerbubble": "beer bubbling as it brews",
        "winebubble": "wine bubbling as it ferments",
        "fast_woodcutting": "an axe chopping wood quickly",
        "woodcutting": "an axe chopping wood",
        "falling_tools": "tools clattering to the ground",
    },
    "minetest-data": {
        "flint_and_steel": "flint and steel striking a spark",
        "place_node": "a block being placed",
        "dig": "digging into the ground",
        "dug_node": "a block breaking loose",
        "tool_breaks": "a tool snapping",
    },
    "wesnoth-1.16-data": {
        "slowed": "a magical slowing spell",
        "petrified": "stone crackling as someone turns to stone",
        "poison": "a bubbling poison spell",
        "entangle": "vines rustling as someone is entangled",
        "potion": "someone drinking a potion",
        "gold": "gold coins clinking",
        "heal": "a magical healing chime",
        "cave-in": "rocks collapsing in a cave-in",
        "rumble": "a deep rumble of the ground",
        "lightning": "a lightning strike crackles",
    },
    "hedgewars-data": {
        "invulnerable": "a magical shield shimmer",
        "throwpowerup": "a rising charge-up tone",
        "throwrelease": "a whoosh as something is thrown",
        "cake": "a cartoon cake walking and ticking",
        "lowgravity": "a wobbly low-gravity effect",
        "lasersight": "a laser sight humming",
        "ropeshot": "a grappling rope is fired",
        "roperelease": "a rope is released",
        "ropeattach": "a rope hook attaches",
        "warp": "a sci-fi teleport warp",
        "portal": "a sci-fi portal whoosh",
        "minetick": "a mine ticking",
        "sinegun": "a wobbly energy gun fires",
        "landgun": "a sci-fi gun sprays earth",
        "drillgun": "a drill shooting",
        "steps": "footsteps",
        "bump": "a soft bump",
        "egg": "an egg cracks",
        "collectcrate": "a pickup chime as a crate is collected",
        "hog_freeze": "ice freezing with a crackle",
        "frozen_hog_impact": "ice shattering",
        "melonimpact": "a melon splatters",
        "graveimpact": "a gravestone thuds",
        "knife_impact": "a knife thuds into something",
        "mineimpact": "a landmine explodes",
        "airmine_impact": "a floating mine explodes",
    },
    "0ad-data": {
        "fleshstab": "a blade stabs into flesh",
        "con_wood": "construction work, hammering wood",
        "con_stone": "construction work with stone blocks",
        "con_": "construction work",
        "amb_farm": "farm ambience with animals",
        "amb_port": "harbour ambience with water and gulls",
        "amb_market": "a busy market with chatter",
        "amb_": "ambience of a busy settlement",
        "alarm": "an alarm horn sounds",
        "sel_tree": "tree leaves rustling",
        "gather_field": "someone harvests grain",
        "swordhit": "swords clash",
        "musket": "a musket fires",
        "wave": "ocean waves breaking",
        "footstep_grass_running": "running footsteps on grass",
        "stonegate_close": "a heavy stone gate closes",
        "stonegate_open": "a heavy stone gate opens",
        "woodgate_close": "a wooden gate closes",
        "woodgate_open": "a wooden gate opens",
        "gather_meat": "someone butchering meat",
        "gather_fruit": "someone picking fruit from a bush",
        "hoe": "someone hoeing soil",
    },
    "supertuxkart-data": {
        "dark": "a dark ominous drone",
        "swap": "a whoosh as items are swapped",
        "locked": "a locked door rattles",
        "strike": "bowling pins being knocked down",
        "ugh": "a man grunts",
        "goo": "a gooey splat",
        "pre_start_race": "countdown beeps before a race",
        "start_race": "a start signal beep",
        "race_finish_victory": "a victory fanfare",
        "race_finish": "a finish-line fanfare",
        "energy_bar": "a short electronic blip",
        "grab_collectable": "a pickup chime",
        "lenautile_restaurant": "restaurant ambience with chatter and dishes",
        "sara_airport_pa": "an airport public address announcement",
        "gnu_flute": "a short flute melody",
        "track_intro": "a short musical intro",
        "bowling_shoot": "a bowling ball is thrown",
        "bowling_roll": "a bowling ball rolls",
        "airplane_jet": "a jet engine roaring",
        "forcefield": "a humming force field",
        "tractor_beam": "a sci-fi tractor beam hum",
        "skid": "tires skidding",
        "wooden_bridge": "driving over a wooden bridge",
        "goal_scored": "a crowd cheers a goal",
        "last_lap": "a last-lap fanfare",
        "appear": "a magical shimmer",
        "static-radio": "radio static",
        "plunger": "a rubber plunger pops",
        "swatter": "a fly swatter swats",
        "portal": "a sci-fi portal whoosh",
        "machine_sound": "machinery humming",
        "horn": "a car horn honks",
        "nitro": "a nitro boost whoosh",
        "shoot": "a cartoon cannon fires",
        "wee": "someone cheers 'wee'",
    },
}


def override_captions(pkg: str, stem: str) -> list[str] | None:
    low = stem.lower()
    for prefix, desc in OVERRIDES.get(pkg, {}).items():
        if low.startswith(prefix):
            return captions.dedupe([desc, f"{desc} (sound effect)", f"sound effect: {desc}"])
    return None


def _files(root: Path, sub: str, exclude=("music",)) -> list[Path]:
    base = root / sub
    return find_audio(base, exclude) if base.is_dir() else []


def _spec(
    src: str,
    pkg: str,
    root: Path,
    path: Path,
    caps: list[str],
    lic,
    *,
    item: str | None = None,
    meta: dict | None = None,
    segments: bool = False,
    key_base: Path | None = None,
    source: str | None = None,
) -> ClipSpec:
    rel = str(path.relative_to(root))
    key = safe_key(str(path.relative_to(key_base or root)))
    stem_item = captions.item_key(path.name)
    clip_meta = {"orig": rel, "name": path.stem}
    clip_meta.update(meta or {})
    return ClipSpec(
        key=key,
        item=item or f"{pkg}:{path.parent.name}/{stem_item}",
        captions=caps,
        license=lic.license_for(rel) if hasattr(lic, "license_for") else lic,
        meta=clip_meta,
        path=path,
        allow_segments=segments,
        package=pkg,
        source=source,
    )


# --------------------------------------------------------------------------- sound themes
THEME_PACKAGES = (
    "sound-theme-freedesktop",
    "oxygen-sounds",
    "yaru-theme-sound",
    "deepin-sound-theme",
    "gnome-audio",
    "sound-icons",
)
THEME_LICENSES = {
    "sound-theme-freedesktop": "CC-BY-SA-3.0",
    "oxygen-sounds": "LGPL-3.0-or-later",
    "yaru-theme-sound": "GPL-3.0+",
    "deepin-sound-theme": "GPL-3",
    "gnome-audio": "CC-BY-SA-2.0",
    "sound-icons": "GPL-2+",
}


def collect_themes(ctx: SourceContext) -> Iterator[ClipSpec]:
    for pkg in THEME_PACKAGES:
        root = ctx.roots.get(pkg)
        if root is None:
            continue
        lic = copyright_for(root, pkg, THEME_LICENSES[pkg])
        for path in _files(root, "usr/share/sounds"):
            if pkg == "sound-icons":
                caps = captions.sfx_captions(path.name) or ["a short sound icon"]
                caps = captions.dedupe(caps + ["a short sound icon for a screen reader"])
            else:
                caps = ui_captions(path.name)
            yield _spec(
                "sound-themes",
                pkg,
                root,
                path,
                caps,
                lic,
                key_base=root / "usr/share/sounds",
                item=f"{pkg}:{captions.item_key(path.name)}",
                source=pkg,
            )


# --------------------------------------------------------------------------- minetest
def collect_minetest(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "minetest-data"
    root, lic = package_tree(ctx, pkg, "CC-BY-SA-3.0")
    base = root / "usr/share/games/minetest/games"
    for path in find_audio(base):
        if "devtest" in path.parts:
            continue
        mod = path.parent.parent.name
        name = re.sub(rf"^{re.escape(mod)}_", "", path.name.split(".")[0])
        caps = override_captions(pkg, name) or captions.sfx_captions(name, [mod])
        if not caps:
            continue
        yield _spec(
            "minetest-data",
            pkg,
            root,
            path,
            caps,
            lic,
            key_base=base,
            item=f"{pkg}:{mod}/{captions.item_key(name)}",
            segments=True,
        )


# --------------------------------------------------------------------------- lincity-ng
LINCITY = {
    "residential": "people and traffic in a residential neighbourhood",
    "market": "a busy market with chatter",
    "industry": "factory machinery",
    "coal_mine": "machinery at a coal mine",
    "ore_mine": "machinery at an ore mine",
    "power": "the hum of a coal power station",
    "solar": "the hum of a solar power plant",
    "farm": "farm animals on a farm",
    "organic": "farm animals on a farm",
    "mill": "a working mill",
    "pottery": "a pottery workshop",
    "school": "children playing at a school",
    "university": "students talking at a university",
    "health": "a busy hospital",
    "harbor": "a harbour with boats and seagulls",
    "rail": "a passing train",
    "train": "a passing train",
    "rocket": "a rocket launch",
    "tip": "trucks at a landfill",
    "traffic": "road traffic",
    "sports": "a cheering crowd at a stadium",
    "croud": "a cheering crowd at a stadium",
    "windmill": "a windmill turning in the wind",
    "wind": "a windmill turning in the wind",
    "water": "running water",
    "fire": "a crackling fire",
    "blacksmith": "a blacksmith hammering metal",
    "recycle": "a recycling plant",
    "monument": "construction work",
    "construction": "construction work",
    "shanty": "a noisy shanty town",
    "commune": "people working in a commune",
    "park": "birds in a park",
    "lake": "water lapping at a lake",
    "raze": "a building being demolished",
    "dirt": "a vehicle on a dirt track",
    "substation": "an electric hum",
    "green": "birds singing in a green park",
    "click": "a short interface click",
    "build": "building construction",
    "window": "a short interface whoosh",
}


def collect_lincity(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "lincity-ng-data"
    root, lic = package_tree(ctx, pkg, "GPL-2+")
    for path in _files(root, "usr/share/games/lincity-ng/sounds"):
        toks = captions.split_name(path.name)
        desc = next((LINCITY[token] for token in toks if token in LINCITY), None)
        if desc is None:
            continue
        level = next(
            (
                token
                for token in toks
                if token in {"high", "low", "med", "empty", "full", "on", "off"}
            ),
            None,
        )
        caps = captions.dedupe(
            [desc, f"the sound of {desc}", f"{desc}, city ambience", f"city sounds: {desc}"]
        )
        yield _spec(
            "lincity-ng-data",
            pkg,
            root,
            path,
            caps,
            lic,
            segments=True,
            meta={"level": level} if level else None,
            key_base=root / "usr/share/games/lincity-ng",
        )


# --------------------------------------------------------------------------- wesnoth
def collect_wesnoth(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "wesnoth-1.16-data"
    root, lic = package_tree(ctx, pkg, "GPL-2+")
    base = root / "usr/share/games/wesnoth/1.16"
    for path in find_audio(base, ("music",)):
        rel_parts = path.relative_to(base).parts
        if rel_parts[0] == "sounds":  # user interface
            caps = ui_captions(path.name)
        elif "horn-signals" in rel_parts:
            caps = ["a horn signal is blown", "a battle horn sounds", "the sound of a horn call"]
        elif "ambient" in rel_parts:
            caps = captions.sfx_captions(path.name, ["ambient"]) + ["ambience"]
            caps = captions.dedupe(
                [
                    caption if "ambience" in caption or caption.startswith("a") else caption
                    for caption in caps
                ]
            )
        else:
            caps = override_captions(pkg, path.stem) or captions.sfx_captions(
                path.name, rel_parts[:-1]
            )
        if caps:
            yield _spec(
                "wesnoth-1.16-data",
                pkg,
                root,
                path,
                caps,
                lic if lic.stanzas else "GPL-2+",
                key_base=base,
                segments="ambient" in rel_parts,
            )


# --------------------------------------------------------------------------- widelands
def collect_widelands(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "widelands-data"
    root, lic = package_tree(ctx, pkg, "GPL-2+")
    base = root / "usr/share/games/widelands/data"
    for path in find_audio(base, ("music",)):
        folders = list(path.relative_to(base).parts[:-1])
        caps = override_captions(pkg, path.stem)
        if caps:
            pass
        elif path.parent == base / "sound":
            caps = ui_captions(path.name)
        else:
            caps = captions.sfx_captions(path.name, folders[1:])
        if caps:
            yield _spec("widelands-data", pkg, root, path, caps, lic, key_base=base, segments=True)


# --------------------------------------------------------------------------- freedroidrpg
FREEDROID = {
    "leaveelevator": "an elevator arrives with a whoosh",
    "shop": "a cash register ching",
    "takeovergamewon": "a short victory jingle",
    "takeovergamelost": "a short losing jingle",
    "takeovergamedeadlock": "a short neutral jingle",
    "thouartdefeated": "a deep voice says 'thou art defeated'",
    "missionstatuschange": "a notification chime",
    "swingthennohit": "a weapon swings and misses",
    "swingthenhit": "a weapon swings and hits",
    "itemarmourput": "armour being put on",
    "itemrangeweaponput": "a gun being picked up",
    "takeoversetcapsule": "a short electronic blip",
    "menu": "a short interface click",
    "movemenuposition": "a short interface click",
    "gotintoblast": "someone caught in an explosion",
    "noammo": "an empty gun clicks",
    "bulletreflected": "a bullet ricochets",
    "newhealing": "a magical healing shimmer",
    "newteleporter": "a sci-fi teleporter whoosh",
    "readsign": "paper rustling",
    "spellforcetoenergy": "a magical energy spell",
}


def collect_freedroid(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "freedroidrpg-data"
    root, lic = package_tree(ctx, pkg, "GPL-2+")
    base = root / "usr/share/freedroidrpg/data/sound/effects"
    for path in find_audio(base):
        folder = path.parent.name
        stem = re.sub(r"_?(Sound)?_?\d*$", "", path.stem)
        if folder == "voice_samples":
            caps = [
                "a robotic voice speaks",
                "a synthetic robot voice talking",
                "a computer voice says something",
            ]
            item = f"{pkg}:voice_samples/{path.stem}"
        elif folder == "tux_ingame_comments":
            text = " ".join(
                re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem).replace("_", " ").split()
            ).lower()
            text = re.sub(r"\bi\b", "I", text).replace("I cant", "I can't").replace("tux ", "")
            caps = captions.speech_captions(text, "male", synthetic=False)
            item = None
        elif folder == "bot_sounds":
            what = {
                "first": "a robot beeps as it spots an enemy",
                "start": "a robot starts attacking with a whirr",
                "death": "a robot breaks down and explodes",
            }[stem.split("_")[0].lower()]
            caps = captions.dedupe([what, f"sci-fi sound: {what}", f"{what}, sound effect"])
            item = None
        elif folder == "bullets":
            weapon = stem.replace("_", " ").lower()
            caps = [
                f"a {weapon} shot",
                f"a sci-fi {weapon} weapon fires",
                f"the sound of a {weapon} gun firing",
            ]
            item = None
        else:
            flat = re.sub(r"[^a-z]", "", stem.lower())
            desc = next(
                (
                    description
                    for prefix, description in FREEDROID.items()
                    if flat.startswith(prefix)
                ),
                None,
            )
            caps = (
                captions.dedupe([desc, f"{desc}, sound effect", f"sci-fi game sound: {desc}"])
                if desc
                else captions.sfx_captions(stem, [folder])
            )
            if stem.lower().startswith("influencer_scream"):
                caps = [
                    "a robot screams",
                    "a distorted robotic scream",
                    "the sound of a robot screaming in pain",
                ]
            item = None
        if caps:
            yield _spec("freedroidrpg-data", pkg, root, path, caps, lic, key_base=base, item=item)


# --------------------------------------------------------------------------- megaglest
MEGAGLEST_ACTIONS = {
    "ack": "acknowledges an order",
    "select": "answers when selected",
    "sel": "answers when selected",
    "attack": None,
    "die": None,
    "hit": None,
    "walk": None,
    "fly": None,
    "build": None,
}


def collect_megaglest(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "megaglest-data"
    root, lic = package_tree(ctx, pkg, "CC-BY-SA-3.0")
    base = root / "usr/share/games/megaglest"
    for path in find_audio(base, ("music",)):
        parts = path.relative_to(base).parts
        folders = list(parts[:-1])
        hint = None
        segments = False
        if "units" in parts:
            unit = parts[parts.index("units") + 1]
            toks = captions.split_name(path.name)
            if not (
                set(toks) & set(captions.ANIMAL_CALLS)
                | set(captions.split_name(unit)) & set(captions.ANIMAL_CALLS)
            ):
                hint = unit
            caps = captions.sfx_captions(path.name, [], subject_hint=hint)
            item = f"{pkg}:{unit}/{captions.item_key(path.name)}"
        elif "tilesets" in parts:
            tileset = parts[parts.index("tilesets") + 1]
            caps = captions.sfx_captions(path.name, [tileset])
            caps = (
                captions.dedupe(caps + [f"{caps[0]}, {tileset.replace('_', ' ')} ambience"])
                if caps
                else caps
            )
            item = f"{pkg}:{tileset}/{captions.item_key(path.name)}"
            segments = True
        elif "menu" in parts:
            caps = ui_captions(path.name)
            item = None
        elif "water_sounds" in parts:
            caps = [
                "water splashing",
                "a splash in water",
                "the sound of something falling into water",
            ]
            item = f"{pkg}:water_sounds"
        else:
            caps = captions.sfx_captions(path.name, folders)
            item = None
        if caps:
            yield _spec(
                "megaglest-data",
                pkg,
                root,
                path,
                caps,
                lic,
                key_base=base,
                item=item,
                segments=segments,
            )


# --------------------------------------------------------------------------- supertuxkart
def collect_stk(ctx: SourceContext) -> Iterator[ClipSpec]:
    pkg = "supertuxkart-data"
    root, lic = package_tree(ctx, pkg, "GPL-3+")
    base = root / "usr/share/games/supertuxkart/data"
    for path in find_audio(base, ("music",)):
        parts = path.relative_to(base).parts
        toks = captions.split_name(path.name)
        if parts[0] not in {"sfx", "karts"} and not all(token in captions.VOCAB for token in toks):
            continue  # track folders mostly hold music; keep only clearly named effects
        name = {"plopp": "plop", "gp_end": "fanfare", "bzzt": "electric buzz"}.get(
            path.stem, path.name
        )
        caps = override_captions(pkg, path.stem) or captions.sfx_captions(
            name, [parts[0]] if parts[0] != "sfx" else []
        )
        if caps:
            yield _spec(
                "supertuxkart-data", pkg, root, path, caps, lic, key_base=base, segments=True
            )


SIMPLE_COLLECTORS = {
    "sound-themes": (THEME_PACKAGES, collect_themes),
    "minetest-data": (("minetest-data",), collect_minetest),
    "lincity-ng-data": (("lincity-ng-data",), collect_lincity),
    "wesnoth-1.16-data": (("wesnoth-1.16-data",), collect_wesnoth),
    "widelands-data": (("widelands-data",), collect_widelands),
    "freedroidrpg-data": (("freedroidrpg-data",), collect_freedroid),
    "megaglest-data": (("megaglest-data",), collect_megaglest),
    "supertuxkart-data": (("supertuxkart-data",), collect_stk),
}
