"""Caption writing from file names, folders and metadata."""

from __future__ import annotations

import pytest

from clapldm.corpus import captions
from clapldm.corpus.sources.assets import drum_name, zero_ad_captions
from clapldm.corpus.sources.games import ui_captions


@pytest.mark.parametrize(
    "name, tokens",
    [
        ("eleattack2", ["ele", "attack"]),
        ("death_horse_11", ["death", "horse"]),
        ("RocketTakeoff1", ["rocket", "takeoff"]),
        ("arrow_dirt_15.ogg", ["arrow", "dirt"]),
        ("shotgunreload", ["shotgun", "reload"]),
        ("Oxygen-Im-Phone-Ring.ogg", ["oxygen", "im", "phone", "ring"]),
        ("swordhit_18a", ["sword", "hit"]),
        ("CoalMine1.wav", ["coal_mine"]),
    ],
)
def test_split_name(name, tokens):
    assert captions.split_name(name) == tokens


@pytest.mark.parametrize(
    "name, folders, first",
    [
        ("eleattack2", (), "an elephant attacks"),
        ("death_horse_11", (), "a horse dies"),
        ("arrow_dirt_15", ("attack", "impact"), "an arrow hits dirt"),
        ("cattle_05", ("fauna", "animal"), "cattle low"),
        ("cow_ack1", (), "a cow moos"),
        ("mine_stone_19", ("resource", "mining"), "someone mines stone"),
        ("human-female-die-2", (), "a woman dies"),
        ("shotgunreload", (), "a shotgun is reloaded"),
        ("whipcrack", (), "a whip cracks"),
        ("doors_door_open", (), "a door opens"),
        ("default_grass_footstep", (), "footsteps on grass"),
        ("crickets1_00", (), "crickets chirp"),
        ("death_15", ("human", "death"), "a man dies"),
        ("stonegate_close_21", ("gate",), "a stone gate closes"),
        ("wolf-growl-4", (), "a wolf growls"),
        ("Glass_Break", (), "glass breaks"),
    ],
)
def test_sfx_captions_first(name, folders, first):
    assert captions.sfx_captions(name, folders)[0] == first


def test_sfx_captions_give_paraphrases():
    caps = captions.sfx_captions("cattle_05", ("fauna", "animal"))
    assert len(caps) >= 3 and len(set(caps)) == len(caps)
    assert "the sound of cattle lowing" in caps
    assert all(caption == caption.strip() and caption for caption in caps)


def test_subject_hint_names_the_unit():
    caps = captions.sfx_captions("swordman_attack3", subject_hint="spearman_berserk")
    assert caps[0] == "a berserk spearman attacks"


def test_item_key_ignores_take_numbers():
    assert (
        captions.item_key("arrow_dirt_15.ogg") == captions.item_key("arrow_dirt_03") == "arrow_dirt"
    )
    assert captions.item_key("Farm1.wav") == captions.item_key("Farm3.wav")


def test_article():
    assert captions.article("elephant") == "an elephant"
    assert captions.article("horse") == "a horse"
    assert captions.article("cattle") == "cattle"
    assert captions.article("footsteps") == "footsteps"


def test_note_names():
    assert captions.note_name(60) == "C4"
    assert captions.note_name(69) == "A4"
    assert captions.note_name(61) == "C#4"
    assert captions.note_name(36) == "C2"
    assert captions.note_name(84) == "C6"


def test_midi_captions():
    assert captions.midi_note_captions("piano", 60, 110)[0] == "a piano plays C4, loud"
    assert "a soft violin note, A3" in captions.midi_note_captions("violin", 57, 40)
    assert (
        captions.drum_pattern_captions("rock", 120, "standard")[0]
        == "a drum kit plays a rock beat at 120 bpm"
    )
    assert "a drum machine" in captions.drum_pattern_captions("house", 124, "TR-808")[0]
    assert (
        captions.midi_phrase_captions("flute", "rising scale", "D major", 96, 80)[0]
        == "a flute plays a D major rising scale at 96 bpm"
    )
    assert captions.drum_hit_captions("snare drum", 118, "standard")[0] == "a loud snare drum hit"


def test_speech_captions():
    caps = captions.speech_captions("hello there", "female")
    assert caps[0] == "a woman says 'hello there'"
    assert (
        captions.speech_captions("bonjour", "male", "French")[0] == "a man says 'bonjour' in French"
    )
    assert "a man speaking French" in captions.speech_captions("bonjour", "male", "French")
    assert captions.speech_captions("hi", "male", style="Scottish")[0] == "a Scottish man says 'hi'"


def test_drum_names():
    assert drum_name("Snare Jazz") == "jazz snare drum"
    assert drum_name("Closed HH") == "closed hi-hat"
    assert drum_name("Kick") == "kick drum"
    assert drum_name("c#3 - stick") == "drum stick click"


def test_ui_and_0ad_captions():
    assert ui_captions("phone-incoming-call.oga")[0] == "a phone ringing"
    assert ui_captions("dialog-error.oga")[0] == "an error alert tone"
    caps, meta, seg = zero_ad_captions(("audio", "voice", "latin", "civ", "civ_male_attack_1.ogg"))
    assert (
        caps[0] == "a man acknowledges an order to attack, speaking Latin"
        and meta["language"] == "Latin"
    )
    caps, _, seg = zero_ad_captions(("audio", "ambient", "water", "river_fast_21.ogg"))
    assert caps[0] == "a fast river" and seg
