"""Word tables for caption writing: game jargon -> plain words, actions, materials, animal calls.

Pure data, imported by :mod:`clapldm.data.captions`.
"""

from __future__ import annotations

# jargon / abbreviations / spelling -> plain noun (singular)
NOUNS: dict[str, str] = {"ele": "elephant", "orni": "ornithopter", "dr": "dragon",
    "dragon_rider": "dragon rider", "swordman": "swordsman", "swordsman": "swordsman",
    "daemon": "demon", "cudgel": "cudgel lady", "stickfighter": "stick fighter",
    "archmage": "archmage", "battlemage": "battle mage", "initiate": "young mage",
    "technician": "technician", "carpet": "flying carpet", "jav": "javelin", "javelin": "javelin",
    "pike": "pike", "sp": "spear", "cav": "cavalry", "inf": "infantry", "fs": "footstep",
    "amb": "ambience", "sel": "selection", "bd": "bass drum", "hh": "hi-hat", "hihat": "hi-hat",
    "sd": "snare drum", "tom": "tom drum", "kick": "kick drum", "ride": "ride cymbal",
    "crash": "crash", "hat": "hi-hat", "indi": "warrior", "dude": "man", "tux": "penguin",
    "croud": "crowd", "trafic": "traffic", "windmill": "windmill", "tnt": "dynamite",
    "nitro": "nitro boost", "ufo": "flying saucer", "rcplane": "toy plane",
    "tardis": "time machine", "hog": "hedgehog", "lav": "lava", "ox": "ox", "mudchute": "farm",
    "ballista": "ballista", "minarett": "minaret", "thrall": "servant", "influencer": "robot",
    "bot": "robot", "droid": "robot", "gp": "grand prix", "stk": "kart", "cembalo": "harpsichord",
    "klavichord": "clavichord", "xylofon": "xylophone", "cymbaly": "cymbals",
    "violoncello": "cello", "pisk": "whistle", "shanty": "shanty town", "oremine": "ore mine",
    "coalmine": "coal mine", "chicken": "chicken", "hen": "hen", "rooster": "rooster",
    "calf": "calf", "foes": "enemy", "benchsaw": "bench saw", "kart": "go-kart", "car": "car",
    "wagon": "wagon", "cart": "cart", "dragonstick": "dragon gun", "thunderstick": "musket",
    "wose": "tree creature", "naga": "serpent warrior", "mermen": "merman", "drake": "drake",
    "gryphon": "griffin", "tusker": "boar", "footstep": "footsteps", "step": "footsteps",
    "male": "man", "wilhelm": "man", "night": "night ambience", "nightime": "night ambience",
    "day": "daytime ambience", "morning": "morning ambience", "magic": "magic spell",
    "civ": "citizen", "coal_mine": "coal mine", "ore_mine": "ore mine", "gold_mine": "gold mine",
    "fire_station": "fire station", "steam_locomotive": "steam locomotive", "wind_mill": "windmill",
    "power_line": "power line", "cash_register": "cash register", "rubber_duck": "rubber duck",
    "jet_pack": "jet pack", "fire_archer": "fire archer", "axe_thrower": "axe thrower",
    "battle_machine": "battle machine", "ghost_armor": "ghost armor", "evil_dragon": "evil dragon",
    "siege": "siege engine", "flint": "flint and steel", "sound_icons": "sound icon",
    "magic_missile": "magic missile", "magic_thorns": "magic thorns", "cudgel_lady": "cudgel lady",
    "flying_carpet": "flying carpet", "thunderbird": "thunderbird", "ugg": "grunt",
    "battleaxe": "battle-axe warrior", "fakir": "fakir", "throwing_knife": "throwing knife",
    "fuse": "burning fuse", "pincers": "pincers", "mead": "mead", "herk": "sparks",
    "raze": "demolition", "tip": "landfill"}
# animal -> (clause verb, gerund) for its usual call
ANIMAL_CALLS: dict[str, tuple[str, str]] = {"cattle": ("low", "lowing"), "cow": ("moos", "mooing"),
    "bull": ("bellows", "bellowing"), "ox": ("lows", "lowing"), "calf": ("bleats", "bleating"),
    "sheep": ("bleats", "bleating"), "goat": ("bleats", "bleating"), "pig": ("grunts", "grunting"),
    "sow": ("grunts", "grunting"), "boar": ("grunts", "grunting"), "horse": ("neighs", "neighing"),
    "donkey": ("brays", "braying"), "camel": ("grunts", "grunting"),
    "elephant": ("trumpets", "trumpeting"), "dog": ("barks", "barking"),
    "wolf": ("howls", "howling"), "coyote": ("howls", "howling"), "fox": ("yelps", "yelping"),
    "bear": ("growls", "growling"), "lion": ("roars", "roaring"), "tiger": ("roars", "roaring"),
    "cat": ("meows", "meowing"), "chicken": ("clucks", "clucking"), "hen": ("clucks", "clucking"),
    "rooster": ("crows", "crowing"), "duck": ("quacks", "quacking"), "goose": ("honks", "honking"),
    "bird": ("chirps", "chirping"), "birds": ("chirp", "chirping"), "owl": ("hoots", "hooting"),
    "crow": ("caws", "cawing"), "hawk": ("screeches", "screeching"),
    "eagle": ("screeches", "screeching"), "frog": ("croaks", "croaking"),
    "crickets": ("chirp", "chirping"), "cricket": ("chirps", "chirping"),
    "bee": ("buzzes", "buzzing"), "bees": ("buzz", "buzzing"), "moose": ("bellows", "bellowing"),
    "stag": ("bellows", "bellowing"), "deer": ("bellows", "bellowing"),
    "snake": ("hisses", "hissing"), "bat": ("squeaks", "squeaking"),
    "monkey": ("chatters", "chattering"), "gorilla": ("grunts", "grunting"),
    "whale": ("sings", "singing"), "dragon": ("roars", "roaring"),
    "griffin": ("shrieks", "shrieking"), "seagull": ("cries", "crying"),
    "peacock": ("calls", "calling"), "cuckoo": ("calls", "calling"),
    "turkey": ("gobbles", "gobbling"), "mouse": ("squeaks", "squeaking"),
    "rabbit": ("squeaks", "squeaking"), "vulture": ("screeches", "screeching"),
    "parrot": ("squawks", "squawking"), "penguin": ("squawks", "squawking"),
    "seal": ("barks", "barking"), "zombie": ("groans", "groaning"),
    "blackbird": ("sings", "singing"), "lark": ("sings", "singing"),
    "sea lion": ("barks", "barking"), "drake": ("quacks", "quacking"),
    "gander": ("honks", "honking"), "hornet": ("buzzes", "buzzing"),
    "mosquito": ("whines", "whining"), "grasshopper": ("chirps", "chirping"),
    "dolphin": ("clicks and whistles", "clicking and whistling"), "orca": ("calls", "calling"),
    "chimpanzee": ("hoots", "hooting"), "zebra": ("brays", "braying"),
    "squirrel": ("chatters", "chattering"), "koala": ("grunts", "grunting"),
    "bison": ("grunts", "grunting"), "hippopotamus": ("grunts", "grunting"),
    "demon": ("growls", "growling"), "ghost": ("moans", "moaning")}
# action token -> (clause verb phrase, gerund phrase); "{o}" takes an object/material
ACTIONS: dict[str, tuple[str, str]] = {"attack": ("attacks", "attacking"),
    "fight": ("fights", "fighting"), "die": ("dies", "dying"), "death": ("dies", "dying"),
    "dying": ("dies", "dying"), "hit": ("is hit", "being hit"), "hurt": ("is hurt", "getting hurt"),
    "pain": ("cries out in pain", "crying out in pain"), "walk": ("walks", "walking"),
    "move": ("moves", "moving"), "movement": ("moves", "moving"), "run": ("runs", "running"),
    "fly": ("flies", "flying"), "flying": ("flies", "flying"),
    "flap": ("flaps its wings", "flapping wings"),
    "flapping": ("flaps its wings", "flapping wings"), "build": ("builds something", "building"),
    "construction": ("builds something", "building"), "repair": ("repairs something", "repairing"),
    "harvest": ("harvests {o}", "harvesting {o}"), "mine": ("mines {o}", "mining {o}"),
    "mining": ("mines {o}", "mining {o}"), "gather": ("gathers {o}", "gathering {o}"),
    "lumber": ("chops {o}", "chopping {o}"), "chop": ("chops wood", "chopping wood"),
    "woodcutting": ("chops wood", "chopping wood"), "shoot": ("fires", "firing"),
    "fire": ("fires", "firing"), "shot": ("fires", "firing"),
    "miss": ("misses", "missing the target"),
    "select": ("answers a command", "answering a command"),
    "ack": ("acknowledges an order", "acknowledging an order"),
    "order": ("responds to an order", "responding to an order"), "laugh": ("laughs", "laughing"),
    "heal": ("heals someone", "healing"), "summon": ("casts a summoning spell", "summoning"),
    "cast": ("casts a spell", "casting a spell"), "growl": ("growls", "growling"),
    "shriek": ("shrieks", "shrieking"), "roar": ("roars", "roaring"), "bark": ("barks", "barking"),
    "scream": ("screams", "screaming"), "cough": ("coughs", "coughing"),
    "jump": ("jumps", "jumping"), "throw": ("throws something", "throwing"),
    "splash": ("splashes", "splashing"), "explode": ("explodes", "exploding"),
    "open": ("opens", "opening"), "close": ("closes", "closing"), "fall": ("falls", "falling"),
    "falling": ("falls", "falling"), "impact": ("hits {o}", "hitting {o}"),
    "click": ("clicks", "clicking"), "break": ("breaks", "breaking"),
    "canter": ("canters", "cantering"), "charge": ("charges", "charging"),
    "swish": ("swishes", "swishing"), "swing": ("swings", "swinging"),
    "groan": ("groans", "groaning"), "wail": ("wails", "wailing"), "hiss": ("hisses", "hissing"),
    "bite": ("bites", "biting"), "sting": ("stings", "stinging"),
    "reload": ("is reloaded", "being reloaded"), "crack": ("cracks", "cracking"),
    "burn": ("burns", "burning"), "burning": ("burns", "burning"),
    "ignite": ("is lit", "being lit"), "extinguish": ("is put out", "being put out"),
    "drop": ("is dropped", "being dropped"), "pickup": ("is picked up", "being picked up"),
    "destroy": ("is destroyed", "being destroyed"), "destruction": ("collapses", "collapsing"),
    "collapse": ("collapses", "collapsing"), "idle": ("idles", "idling"),
    "turning": ("turns", "turning"), "spin": ("spins", "spinning"), "grind": ("grinds", "grinding"),
    "saw": ("saws wood", "sawing wood"), "sawing": ("saws wood", "sawing wood"),
    "sharpen": ("sharpens a blade", "sharpening a blade"),
    "sharpening": ("sharpens a blade", "sharpening a blade"),
    "weave": ("weaves cloth", "weaving cloth"), "weaving": ("weaves cloth", "weaving cloth"),
    "hammer": ("hammers", "hammering"), "hammering": ("hammers", "hammering"),
    "dig": ("digs", "digging"), "plough": ("ploughs a field", "ploughing a field"),
    "hoe": ("hoes the soil", "hoeing the soil"), "boil": ("boils", "boiling"),
    "bubble": ("bubbles", "bubbling"), "drip": ("drips", "dripping"), "ring": ("rings", "ringing"),
    "knock": ("knocks", "knocking"), "shake": ("shakes", "shaking"), "eat": ("eats", "eating"),
    "drink": ("drinks", "drinking"), "sleep": ("snores", "snoring"),
    "takeoff": ("takes off", "taking off"), "land": ("lands", "landing"),
    "honk": ("honks", "honking"), "skid": ("skids", "skidding"),
    "accel": ("accelerates", "accelerating"), "revup": ("revs up", "revving up"),
    "bounce": ("bounces", "bouncing"), "roll": ("rolls", "rolling"),
    "inflate": ("inflates", "inflating"), "appear": ("appears", "appearing"),
    "teleport": ("teleports", "teleporting"), "freeze": ("freezes", "freezing"),
    "stomp": ("stomps", "stomping"), "kiss": ("kisses", "kissing"),
    "whistle": ("whistles", "whistling"), "garrison": ("takes shelter", "taking shelter"),
    "herd": ("herds animals", "herding animals"), "trade": ("trades goods", "trading goods"),
    "forage": ("forages", "foraging"), "shout": ("shouts", "shouting"),
    "cheer": ("cheers", "cheering"), "yell": ("yells", "yelling"), "talk": ("talks", "talking"),
    "sing": ("sings", "singing"), "chant": ("chants", "chanting")}
# action synonyms with number-less glued forms
ACTION_ALIASES = {"dies": "die", "hits": "hit", "attacks": "attack", "footsteps": "step",
    "steps": "step", "sel": "select", "standing": "idle", "prod": "build", "work": "build",
    "cutting": "chop", "cutter": "chop", "lumbering": "lumber", "farming": "harvest",
    "gathering": "gather", "harvesting": "harvest", "explosion": "explode", "swoosh": "swish",
    "opening": "open", "closing": "close", "flight": "fly", "crash": "crash"}
# surfaces / materials something can hit or be made of
MATERIALS = set("""
    dirt stone wood metal flesh water grass sand snow gravel rock mud ice glass armor armour
    leather cloth ground earth tree meat fruit field leaves grain fish gold iron silver coal ore
    marble straw bone lava steel brick tile carpet concrete floor plank
""".split()) - {"carpet"}
# things that fly and hit (projectiles / weapons)
PROJECTILES = set("""
    arrow spear javelin sling stone bolt dart rock bullet ball sword axe club mace hammer knife
    dagger fist pike missile catapult boulder shell grenade melon dynamite flail staff
""".split())
# nouns that are themselves a sound ("an explosion", "thunder", "rain")
SOUND_NOUNS = set("""
    explosion thunder rain wind fire splash bell horn whistle click beep crash footstep
    footsteps step steps river waterfall applause laughter scream alarm siren fanfare chime gong
    drum drums ping thud bang boom pop swoosh zap buzz hum ticking tick clock rumble growl roar
    chatter crowd traffic engine motor waves surf storm anvil bubbles fizzle sizzle whoosh creak
    knock clang clank jingle chord ambience static noise echo cheer cheering music trumpet flute
    guitar piano percussion harpsichord clavichord xylophone cymbals cello violin ocarina whip
    gunshot shot heartbeat snore sneeze kiss plopp plop boing bzzt zip ding dong honk crunch
    slap
""".split())
MASS = {"cattle", "water", "rain", "wind", "fire", "gravel", "dirt", "sand", "snow", "grass", "mud",
    "applause", "laughter", "thunder", "traffic", "ambience", "static", "noise", "music",
    "percussion", "cavalry", "infantry", "lava", "steam", "smoke", "metal", "wood", "stone", "rock",
    "ice", "glass", "gold", "iron", "coal", "ore", "leaves", "grain", "meat", "fruit", "fish",
    "straw", "flesh", "armor", "armour", "cloth", "leather", "earth", "sheep", "deer", "moose",
    "cymbals", "footsteps", "steps", "crickets", "birds", "bees", "bubbles", "waves", "surf",
    "drums", "weather", "machinery", "nitro boost", "poison", "lightning", "beer", "wine", "mead",
    "daytime ambience", "night ambience", "morning ambience", "electricity", "marble", "silver",
    "bone", "concrete", "sawdust"}
ADJECTIVES = set("""
    small big large huge tiny fast slow heavy light loud soft quiet distant far near long short
    deep high low metal metallic wooden old young male female electric electronic angry happy
    sad dark holy evil magic magical dry wet hard gentle strong weak rough smooth puny fiery icy
    frozen rusty steel glass stone empty full squishy bright sharp dull
""".split())
ADJECTIVES.discard("magic")
ADJ_MAP = {"sml": "small", "med": "medium", "lrg": "large", "big": "big", "puny": "weak",
    "female": "female", "old": "old", "hi": "high", "lo": "low", "lowlow": "very low",
    "htech": "high-tech"}
# tokens that carry no meaning (take numbers, versions, formats, generic words)
STOPWORDS = set("""
    sound sounds sfx fx snd effect effects audio sample final new take tk v ver version mono
    stereo loop looped var alt edit the of a an gen generic default data core common commondata
    ogg wav flac oga mix master copy orig original short long_ custom misc other general game
    ingame actor then end atlanteans barbarians empire frisians amazons tribes s x l r
""".split())
# folder words that add a setting phrase
FOLDER_CONTEXT: dict[str, str] = {"farm": "on a farm", "farming": "on a farm",
    "forest": "in a forest", "night": "at night", "day": "during the day",
    "dayscape": "during the day", "tavern": "in a tavern", "taverns": "in a tavern",
    "inn": "in an inn", "mine": "in a mine", "mining": "in a mine", "siege": "during a siege",
    "battle": "in a battle", "weather": "outdoors", "water": "near water", "ship": "on a ship",
    "cave": "in a cave", "city": "in a city", "desert": "in the desert", "winter": "in winter",
    "snow": "in the snow", "hell": "in a fiery place", "building": "near a building",
    "interface": "in a user interface", "ui": "in a user interface", "menu": "in a menu",
    "space": "in space", "underwater": "under water", "beach": "on a beach"}
FOLDER_SKIP = set("""
    resource resources weapon weapons attack impact interface actor fauna ambient singlesteps
    movement animal animals sounds sound effects sfx data select complete building alarm civ
    voice units misc items item
""".split())
SMALL_WORDS = {"a", "an", "the", "of", "in", "on", "at", "and", "to", "with"}
EXTRA_WORDS = set("""
    shotgun gun rifle pistol laser plasma rope mine door gate window chest coin coins cash
    register camera shutter phone message dialog warning error question info information
    complete login logout up down on off in out power plug unplug device added removed trash
    empty battery screen capture wood tree saw bench mill gold beer wine meal ration smith tool
    tools stone mason cutter furnace net fisher pull throw plane water jet pack boost air land
    sniper mini drill pick baseball bat home rubber duck cake blow torch portal ice beam low
    gravity bird egg grave melon mortar hell sudden death firepunch punch knife steam sine count
    extra time switch sea lay rocket train rail track market industry school university health
    harbor recycle pottery monument substation solar line sports commune residential park lake
    blacksmith organic raze tip city crowd wind tech glass break scream takeover game won lost
    shop item sold bought repaired spell force energy elevator leave blast bullet reflected ammo
    menu healing teleporter sign read armour range weapon book potion sword takes picture
    contact first start then nohit goal scored bowling shoot roll forcefield fireworks show
    radio victory finish race lap last collectable grab swap machine wooden bridge swatter
    waterfall river thunder rain restaurant airport pa accel exotic birds bubblegum tractor
    spaceship locomotive speech wilhelm anvil plunger goo dark wee bar full unfull release
    attach sight crate collect frozen idle tick chant warp landgun kiss defeat alarm shield sow
    wild horse cow pig sheep goat camel elephant dog wolf attack die walk select ack hit cattle
    arrow dirt fly order
""".split())
PLURALS = set("""
    cattle crickets birds bees footsteps steps waves drums cymbals people coins tools leaves
    bubbles sheep deer hooves bells chimes fireworks
""".split())
DEFAULT_OBJECT = {"harvest": "crops", "mine": "rock", "mining": "rock", "gather": "food",
    "impact": "something", "lumber": "a tree"}
WEAPON_ACTIONS = {"attack", "fire", "shoot", "swing", "throw", "fight"}
MELEE = {"sword", "axe", "club", "mace", "hammer", "knife", "dagger", "fist", "flail", "staff",
    "pike", "spear", "claws", "pincers", "hatchet", "whip", "tail", "bite"}
MISSILES = {"arrow", "bolt", "dart", "bullet", "sling", "javelin", "stone", "rock", "missile",
    "crossbow", "bow", "throwing knife", "net", "musket", "dragon gun"}
SOMEONE_ACTIONS = set("""
    mine mining gather lumber chop build repair harvest hammer dig hoe saw sawing laugh weave
    weaving sharpen sharpening shoot throw eat drink forage herd trade heal cast swing
    woodcutting cough plough scream shout whistle jump knock
""".split())
