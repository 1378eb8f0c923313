"""Caption writing for the offline corpus.

Sound-effect captions are built from file names and folders with small word tables (game
jargon -> plain words, actions -> verbs, materials, animal calls), never per-file hand
captions. Every function returns several paraphrases, best first, so the text tower sees
varied wordings of the same sound. MIDI and speech captions are written from exact metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# --------------------------------------------------------------------------- word tables
# jargon / abbreviations / spelling -> plain noun (singular)
NOUNS: dict[str, str] = {
    "ele": "elephant", "orni": "ornithopter", "dr": "dragon", "dragon_rider": "dragon rider",
    "swordman": "swordsman", "swordsman": "swordsman", "daemon": "demon", "cudgel": "cudgel lady",
    "stickfighter": "stick fighter", "archmage": "archmage", "battlemage": "battle mage",
    "initiate": "young mage", "technician": "technician", "carpet": "flying carpet",
    "jav": "javelin", "javelin": "javelin", "pike": "pike", "sp": "spear", "cav": "cavalry",
    "inf": "infantry", "fs": "footstep", "amb": "ambience", "sel": "selection", "bd": "bass drum",
    "hh": "hi-hat", "hihat": "hi-hat", "sd": "snare drum", "tom": "tom drum", "kick": "kick drum",
    "ride": "ride cymbal", "crash": "crash", "hat": "hi-hat", "indi": "warrior", "dude": "man",
    "tux": "penguin", "croud": "crowd", "trafic": "traffic", "windmill": "windmill", "tnt": "dynamite",
    "nitro": "nitro boost", "ufo": "flying saucer", "rcplane": "toy plane", "tardis": "time machine",
    "hog": "hedgehog", "lav": "lava", "ox": "ox", "mudchute": "farm", "ballista": "ballista",
    "minarett": "minaret", "thrall": "servant", "influencer": "robot", "bot": "robot", "droid": "robot",
    "gp": "grand prix", "stk": "kart", "cembalo": "harpsichord", "klavichord": "clavichord",
    "xylofon": "xylophone", "cymbaly": "cymbals", "violoncello": "cello", "pisk": "whistle",
    "shanty": "shanty town", "oremine": "ore mine", "coalmine": "coal mine", "chicken": "chicken",
    "hen": "hen", "rooster": "rooster", "calf": "calf", "foes": "enemy", "benchsaw": "bench saw",
    "kart": "go-kart", "car": "car", "wagon": "wagon", "cart": "cart", "dragonstick": "dragon gun",
    "thunderstick": "musket", "wose": "tree creature", "naga": "serpent warrior", "mermen": "merman",
    "drake": "drake", "gryphon": "griffin", "tusker": "boar", "footstep": "footsteps", "step": "footsteps",
    "male": "man", "wilhelm": "man", "night": "night ambience", "nightime": "night ambience",
    "day": "daytime ambience", "morning": "morning ambience", "magic": "magic spell", "civ": "citizen",
    "coal_mine": "coal mine", "ore_mine": "ore mine", "gold_mine": "gold mine", "fire_station": "fire station",
    "steam_locomotive": "steam locomotive", "wind_mill": "windmill", "power_line": "power line",
    "cash_register": "cash register", "rubber_duck": "rubber duck", "jet_pack": "jet pack",
    "fire_archer": "fire archer", "axe_thrower": "axe thrower", "battle_machine": "battle machine",
    "ghost_armor": "ghost armor", "evil_dragon": "evil dragon",
    "siege": "siege engine", "flint": "flint and steel",
    "sound_icons": "sound icon", "magic_missile": "magic missile", "magic_thorns": "magic thorns",
    "cudgel_lady": "cudgel lady", "thunderbird": "thunderbird", "ugg": "grunt",
    "battleaxe": "battle-axe warrior", "fakir": "fakir", "throwing_knife": "throwing knife", "fuse": "burning fuse",
    "pincers": "pincers", "mead": "mead", "herk": "sparks", "raze": "demolition",
    "tip": "landfill",
}

# animal -> (clause verb, gerund) for its usual call
ANIMAL_CALLS: dict[str, tuple[str, str]] = {
    "cattle": ("low", "lowing"), "cow": ("moos", "mooing"), "bull": ("bellows", "bellowing"),
    "ox": ("lows", "lowing"), "calf": ("bleats", "bleating"), "sheep": ("bleats", "bleating"),
    "goat": ("bleats", "bleating"), "pig": ("grunts", "grunting"), "sow": ("grunts", "grunting"),
    "boar": ("grunts", "grunting"), "horse": ("neighs", "neighing"), "donkey": ("brays", "braying"),
    "camel": ("grunts", "grunting"), "elephant": ("trumpets", "trumpeting"),
    "dog": ("barks", "barking"), "wolf": ("howls", "howling"), "coyote": ("howls", "howling"),
    "fox": ("yelps", "yelping"), "bear": ("growls", "growling"), "lion": ("roars", "roaring"),
    "tiger": ("roars", "roaring"), "cat": ("meows", "meowing"), "chicken": ("clucks", "clucking"),
    "hen": ("clucks", "clucking"), "rooster": ("crows", "crowing"), "duck": ("quacks", "quacking"),
    "goose": ("honks", "honking"), "bird": ("chirps", "chirping"), "birds": ("chirp", "chirping"),
    "owl": ("hoots", "hooting"), "crow": ("caws", "cawing"), "hawk": ("screeches", "screeching"),
    "eagle": ("screeches", "screeching"), "frog": ("croaks", "croaking"),
    "crickets": ("chirp", "chirping"), "cricket": ("chirps", "chirping"), "bee": ("buzzes", "buzzing"),
    "bees": ("buzz", "buzzing"), "moose": ("bellows", "bellowing"), "stag": ("bellows", "bellowing"),
    "deer": ("bellows", "bellowing"), "snake": ("hisses", "hissing"), "bat": ("squeaks", "squeaking"),
    "monkey": ("chatters", "chattering"), "gorilla": ("grunts", "grunting"), "whale": ("sings", "singing"),
    "dragon": ("roars", "roaring"), "griffin": ("shrieks", "shrieking"), "seagull": ("cries", "crying"),
    "peacock": ("calls", "calling"), "cuckoo": ("calls", "calling"), "turkey": ("gobbles", "gobbling"),
    "mouse": ("squeaks", "squeaking"), "rabbit": ("squeaks", "squeaking"), "vulture": ("screeches", "screeching"),
    "parrot": ("squawks", "squawking"), "penguin": ("squawks", "squawking"), "seal": ("barks", "barking"),
    "zombie": ("groans", "groaning"), "blackbird": ("sings", "singing"), "lark": ("sings", "singing"),
    "sea lion": ("barks", "barking"), "drake": ("quacks", "quacking"), "gander": ("honks", "honking"),
    "hornet": ("buzzes", "buzzing"), "mosquito": ("whines", "whining"), "grasshopper": ("chirps", "chirping"),
    "dolphin": ("clicks and whistles", "clicking and whistling"), "orca": ("calls", "calling"),
    "chimpanzee": ("hoots", "hooting"), "zebra": ("brays", "braying"), "squirrel": ("chatters", "chattering"),
    "koala": ("grunts", "grunting"), "bison": ("grunts", "grunting"), "hippopotamus": ("grunts", "grunting"), "demon": ("growls", "growling"), "ghost": ("moans", "moaning"),
}

# action token -> (clause verb phrase, gerund phrase); "{o}" takes an object/material
ACTIONS: dict[str, tuple[str, str]] = {
    "attack": ("attacks", "attacking"), "fight": ("fights", "fighting"), "die": ("dies", "dying"),
    "death": ("dies", "dying"), "dying": ("dies", "dying"), "hit": ("is hit", "being hit"),
    "hurt": ("is hurt", "getting hurt"), "pain": ("cries out in pain", "crying out in pain"),
    "walk": ("walks", "walking"), "move": ("moves", "moving"), "movement": ("moves", "moving"),
    "run": ("runs", "running"), "fly": ("flies", "flying"), "flying": ("flies", "flying"),
    "flap": ("flaps its wings", "flapping wings"), "flapping": ("flaps its wings", "flapping wings"),
    "build": ("builds something", "building"), "construction": ("builds something", "building"),
    "repair": ("repairs something", "repairing"), "harvest": ("harvests {o}", "harvesting {o}"),
    "mine": ("mines {o}", "mining {o}"), "mining": ("mines {o}", "mining {o}"),
    "gather": ("gathers {o}", "gathering {o}"), "lumber": ("chops {o}", "chopping {o}"),
    "chop": ("chops wood", "chopping wood"), "woodcutting": ("chops wood", "chopping wood"),
    "shoot": ("fires", "firing"), "fire": ("fires", "firing"), "shot": ("fires", "firing"),
    "miss": ("misses", "missing the target"), "select": ("answers a command", "answering a command"),
    "ack": ("acknowledges an order", "acknowledging an order"), "order": ("responds to an order", "responding to an order"),
    "laugh": ("laughs", "laughing"), "heal": ("heals someone", "healing"), "summon": ("casts a summoning spell", "summoning"),
    "cast": ("casts a spell", "casting a spell"), "growl": ("growls", "growling"), "shriek": ("shrieks", "shrieking"),
    "roar": ("roars", "roaring"), "bark": ("barks", "barking"), "scream": ("screams", "screaming"),
    "cough": ("coughs", "coughing"), "jump": ("jumps", "jumping"), "throw": ("throws something", "throwing"),
    "splash": ("splashes", "splashing"), "explode": ("explodes", "exploding"), "open": ("opens", "opening"),
    "close": ("closes", "closing"), "fall": ("falls", "falling"), "falling": ("falls", "falling"),
    "impact": ("hits {o}", "hitting {o}"), "click": ("clicks", "clicking"), "break": ("breaks", "breaking"),
    "canter": ("canters", "cantering"), "charge": ("charges", "charging"), "swish": ("swishes", "swishing"),
    "swing": ("swings", "swinging"), "groan": ("groans", "groaning"), "wail": ("wails", "wailing"),
    "hiss": ("hisses", "hissing"), "bite": ("bites", "biting"), "sting": ("stings", "stinging"),
    "reload": ("is reloaded", "being reloaded"), "crack": ("cracks", "cracking"), "burn": ("burns", "burning"),
    "burning": ("burns", "burning"), "ignite": ("is lit", "being lit"), "extinguish": ("is put out", "being put out"),
    "drop": ("is dropped", "being dropped"), "pickup": ("is picked up", "being picked up"),
    "destroy": ("is destroyed", "being destroyed"), "destruction": ("collapses", "collapsing"),
    "collapse": ("collapses", "collapsing"), "idle": ("idles", "idling"), "turning": ("turns", "turning"),
    "spin": ("spins", "spinning"), "grind": ("grinds", "grinding"), "saw": ("saws wood", "sawing wood"),
    "sawing": ("saws wood", "sawing wood"), "sharpen": ("sharpens a blade", "sharpening a blade"),
    "sharpening": ("sharpens a blade", "sharpening a blade"), "weave": ("weaves cloth", "weaving cloth"),
    "weaving": ("weaves cloth", "weaving cloth"), "hammer": ("hammers", "hammering"), "hammering": ("hammers", "hammering"),
    "dig": ("digs", "digging"), "plough": ("ploughs a field", "ploughing a field"), "hoe": ("hoes the soil", "hoeing the soil"),
    "boil": ("boils", "boiling"), "bubble": ("bubbles", "bubbling"), "drip": ("drips", "dripping"),
    "ring": ("rings", "ringing"), "knock": ("knocks", "knocking"), "shake": ("shakes", "shaking"),
    "eat": ("eats", "eating"), "drink": ("drinks", "drinking"), "sleep": ("snores", "snoring"),
    "takeoff": ("takes off", "taking off"), "land": ("lands", "landing"), "honk": ("honks", "honking"),
    "skid": ("skids", "skidding"), "accel": ("accelerates", "accelerating"), "revup": ("revs up", "revving up"),
    "bounce": ("bounces", "bouncing"), "roll": ("rolls", "rolling"), "inflate": ("inflates", "inflating"),
    "appear": ("appears", "appearing"), "teleport": ("teleports", "teleporting"), "freeze": ("freezes", "freezing"),
    "stomp": ("stomps", "stomping"), "kiss": ("kisses", "kissing"), "whistle": ("whistles", "whistling"),
    "garrison": ("takes shelter", "taking shelter"), "herd": ("herds animals", "herding animals"),
    "trade": ("trades goods", "trading goods"), "forage": ("forages", "foraging"),
    "shout": ("shouts", "shouting"), "cheer": ("cheers", "cheering"), "yell": ("yells", "yelling"),
    "talk": ("talks", "talking"), "sing": ("sings", "singing"), "chant": ("chants", "chanting"),
}
# action synonyms with number-less glued forms
ACTION_ALIASES = {"dies": "die", "hits": "hit", "attacks": "attack", "footsteps": "step", "steps": "step",
                  "sel": "select", "standing": "idle", "prod": "build", "work": "build", "cutting": "chop",
                  "cutter": "chop", "lumbering": "lumber", "farming": "harvest", "gathering": "gather",
                  "harvesting": "harvest", "explosion": "explode", "swoosh": "swish", "opening": "open",
                  "closing": "close", "flight": "fly", "crash": "crash"}

# surfaces / materials something can hit or be made of
MATERIALS = {"dirt", "stone", "wood", "metal", "flesh", "water", "grass", "sand", "snow", "gravel", "rock",
             "mud", "ice", "glass", "armor", "armour", "leather", "cloth", "ground", "earth",
             "tree", "meat", "fruit", "field", "leaves", "grain", "fish", "gold", "iron", "silver", "coal",
             "ore", "marble", "straw", "bone", "lava", "steel", "brick", "tile", "carpet",
             "concrete", "floor", "plank"}
# things that fly and hit (projectiles / weapons)
PROJECTILES = {"arrow", "spear", "javelin", "sling", "stone", "bolt", "dart", "rock", "bullet", "ball",
               "sword", "axe", "club", "mace", "hammer", "knife", "dagger", "fist", "pike", "missile",
               "catapult", "boulder", "shell", "grenade", "melon", "dynamite", "flail", "staff"}
# nouns that are themselves a sound ("an explosion", "thunder", "rain")
SOUND_NOUNS = {"explosion", "thunder", "rain", "wind", "fire", "splash", "bell", "horn", "whistle", "click",
               "beep", "crash", "footstep", "footsteps", "step", "steps", "river", "waterfall", "applause",
               "laughter", "scream", "alarm", "siren", "fanfare", "chime", "gong", "drum", "drums", "ping",
               "thud", "bang", "boom", "pop", "swoosh", "zap", "buzz", "hum", "ticking", "tick", "clock",
               "rumble", "growl", "roar", "chatter", "crowd", "traffic", "engine", "motor", "waves", "surf",
               "storm", "anvil", "bubbles", "fizzle", "sizzle", "whoosh", "creak", "knock", "clang", "clank",
               "jingle", "chord", "ambience", "static", "noise", "echo", "cheer", "cheering", "music", "trumpet",
               "flute", "guitar", "piano", "percussion", "harpsichord", "clavichord", "xylophone", "cymbals",
               "cello", "violin", "ocarina", "whip", "gunshot", "shot", "heartbeat", "snore", "sneeze",
               "kiss", "plopp", "plop", "boing", "bzzt", "zip", "ding", "dong", "honk", "crunch", "slap"}
MASS = {"cattle", "water", "rain", "wind", "fire", "gravel", "dirt", "sand", "snow", "grass", "mud", "applause",
        "laughter", "thunder", "traffic", "ambience", "static", "noise", "music", "percussion", "cavalry",
        "infantry", "lava", "steam", "smoke", "metal", "wood", "stone", "rock", "ice", "glass", "gold",
        "iron", "coal", "ore", "leaves", "grain", "meat", "fruit", "fish", "straw", "flesh", "armor",
        "armour", "cloth", "leather", "earth", "sheep", "deer", "moose", "cymbals", "footsteps", "steps",
        "crickets", "birds", "bees", "bubbles", "waves", "surf", "drums", "weather", "machinery", "nitro boost",
        "poison", "lightning", "beer", "wine", "mead", "daytime ambience", "night ambience", "morning ambience", "electricity", "marble", "silver", "bone", "concrete", "sawdust"}
ADJECTIVES = {"small", "big", "large", "huge", "tiny", "fast", "slow", "heavy", "light", "loud", "soft",
              "quiet", "distant", "far", "near", "long", "short", "deep", "high", "low", "metal", "metallic",
              "wooden", "old", "young", "male", "female", "electric", "electronic", "angry", "happy", "sad",
              "dark", "holy", "evil", "magic", "magical", "dry", "wet", "hard", "gentle", "strong", "weak",
              "rough", "smooth", "puny", "fiery", "icy", "frozen", "rusty", "steel", "glass", "stone", "empty",
              "full", "squishy", "bright", "sharp", "dull"}
ADJECTIVES.discard("magic")
ADJ_MAP = {"sml": "small", "med": "medium", "lrg": "large", "big": "big", "puny": "weak", "female": "female",
           "old": "old", "hi": "high", "lo": "low", "lowlow": "very low", "htech": "high-tech"}
# tokens that carry no meaning (take numbers, versions, formats, generic words)
STOPWORDS = {"sound", "sounds", "sfx", "fx", "snd", "effect", "effects", "audio", "sample", "final", "new",
             "take", "tk", "v", "ver", "version", "mono", "stereo", "loop", "looped", "var", "alt", "edit",
             "the", "of", "a", "an", "gen", "generic", "default", "data", "core", "common", "commondata",
             "ogg", "wav", "flac", "oga", "mix", "master", "copy", "orig", "original", "short", "long_",
             "custom", "misc", "other", "general", "game", "ingame", "actor", "then", "atlanteans", "barbarians",
             "empire", "frisians", "amazons", "tribes", "s", "x", "l", "r"}
# folder words that add a setting phrase
FOLDER_CONTEXT: dict[str, str] = {
    "farm": "on a farm", "farming": "on a farm", "forest": "in a forest", "night": "at night", "day": "during the day",
    "dayscape": "during the day", "tavern": "in a tavern", "taverns": "in a tavern", "inn": "in an inn",
    "mine": "in a mine", "mining": "in a mine", "siege": "during a siege", "battle": "in a battle",
    "weather": "outdoors", "water": "near water", "ship": "on a ship", "cave": "in a cave", "city": "in a city",
    "desert": "in the desert", "winter": "in winter", "snow": "in the snow", "hell": "in a fiery place",
    "building": "near a building", "interface": "in a user interface", "ui": "in a user interface",
    "menu": "in a menu", "space": "in space", "underwater": "under water", "beach": "on a beach",
}
FOLDER_SKIP = {"resource", "resources", "weapon", "weapons", "attack", "impact", "interface", "actor", "fauna",
               "ambient", "singlesteps", "movement", "animal", "animals", "sounds", "sound", "effects", "sfx",
               "data", "select", "complete", "building", "alarm", "civ", "voice", "units", "misc", "items", "item"}
SMALL_WORDS = {"a", "an", "the", "of", "in", "on", "at", "and", "to", "with"}
_take_re = re.compile(r"^(take|tk|v|var|alt|ver)?\d+[a-z]?$")
_camel_re = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")


def _vocabulary() -> set[str]:
    words = set(NOUNS) | set(ANIMAL_CALLS) | set(ACTIONS) | set(ACTION_ALIASES) | MATERIALS | PROJECTILES
    words |= SOUND_NOUNS | ADJECTIVES | set(ADJ_MAP) | set(FOLDER_CONTEXT) | EXTRA_WORDS
    return {w for w in words if "_" not in w and " " not in w and len(w) > 1}


EXTRA_WORDS = {
    "shotgun", "gun", "rifle", "pistol", "laser", "plasma", "rope", "mine", "door", "gate", "window", "chest",
    "coin", "coins", "cash", "register", "camera", "shutter", "phone", "message", "dialog", "warning", "error",
    "question", "info", "information", "complete", "login", "logout", "up", "down", "on", "off", "in", "out",
    "power", "plug", "unplug", "device", "added", "removed", "trash", "empty", "battery", "screen", "capture",
    "wood", "tree", "saw", "bench", "mill", "gold", "beer", "wine", "meal", "ration", "smith", "tool", "tools",
    "stone", "mason", "cutter", "furnace", "net", "fisher", "pull", "throw", "plane", "water", "jet", "pack",
    "boost", "air", "land", "sniper", "mini", "drill", "pick", "baseball", "bat", "home", "rubber", "duck",
    "cake", "blow", "torch", "portal", "ice", "beam", "low", "gravity", "bird", "egg", "grave", "melon",
    "mortar", "hell", "sudden", "death", "firepunch", "punch", "knife", "steam", "sine", "count", "extra", "time", "switch", "sea", "lay", "rocket", "train", "rail", "track", "market", "industry", "school",
    "university", "health", "harbor", "recycle", "pottery", "monument", "substation", "solar", "line", "sports",
    "commune", "residential", "park", "lake", "blacksmith", "organic", "raze", "tip", "city", "crowd", "wind", "tech", "glass", "break", "scream", "takeover", "game", "won", "lost", "shop", "item",
    "sold", "bought", "repaired", "spell", "force", "energy", "elevator", "leave", "blast", "bullet", "reflected",
    "ammo", "menu", "healing", "teleporter", "sign", "read", "armour", "range", "weapon", "book", "potion",
    "sword", "takes", "picture", "contact", "first", "start", "then", "nohit", "goal", "scored",
    "bowling", "shoot", "roll", "forcefield", "fireworks", "show", "radio", "victory", "finish", "race", "lap",
    "last", "collectable", "grab", "swap", "machine", "wooden", "bridge", "swatter", "waterfall", "river",
    "thunder", "rain", "restaurant", "airport", "pa", "accel", "exotic", "birds", "bubblegum", "tractor",
    "spaceship", "locomotive", "speech", "wilhelm", "anvil", "plunger", "goo", "dark", "wee", "bar", "full", "unfull", "release", "attach", "sight", "crate", "collect", "frozen", "idle", "tick",
    "chant", "warp", "landgun", "kiss", "defeat", "alarm", "shield", "sow", "wild", "horse", "cow", "pig", "sheep", "goat", "camel", "elephant", "dog", "wolf",
    "attack", "die", "walk", "select", "ack", "hit", "cattle", "arrow", "dirt", "fly", "order",
}
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


def sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def dedupe(captions: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for c in captions:
        c = re.sub(r"\s+", " ", c).strip(" ,.")
        if c and c.lower() not in seen:
            seen.add(c.lower())
            out.append(c)
    return out


PLURALS = {"cattle", "crickets", "birds", "bees", "footsteps", "steps", "waves", "drums", "cymbals", "people",
           "coins", "tools", "leaves", "bubbles", "sheep", "deer", "hooves", "bells", "chimes", "fireworks"}
DEFAULT_OBJECT = {"harvest": "crops", "mine": "rock", "mining": "rock", "gather": "food", "impact": "something", "lumber": "a tree"}
WEAPON_ACTIONS = {"attack", "fire", "shoot", "swing", "throw", "fight"}
MELEE = {"sword", "axe", "club", "mace", "hammer", "knife", "dagger", "fist", "flail", "staff", "pike", "spear",
         "claws", "pincers", "hatchet", "whip", "tail", "bite"}
MISSILES = {"arrow", "bolt", "dart", "bullet", "sling", "javelin", "stone", "rock", "missile", "crossbow", "bow",
            "throwing knife", "net", "musket", "dragon gun"}
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


SOMEONE_ACTIONS = {"mine", "mining", "gather", "lumber", "chop", "build", "repair", "harvest", "hammer", "dig",
                   "hoe", "saw", "sawing", "laugh", "weave", "weaving", "sharpen", "sharpening", "shoot", "throw",
                   "eat", "drink", "forage", "herd", "trade", "heal", "cast", "swing", "woodcutting", "cough",
                   "plough", "scream", "shout", "whistle", "jump", "knock"}


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
GENDER_NOUNS = {"female": ("a woman", "a female voice", "woman"), "male": ("a man", "a male voice", "man"),
                None: ("a person", "a voice", "person")}


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
