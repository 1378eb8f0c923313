"""The table of corpus sources, in build order."""

from __future__ import annotations

from clapldm.corpus.sources.assets import (
    collect_0ad,
    collect_hedgewars,
    collect_hydrogen,
    collect_tuxpaint,
)
from clapldm.corpus.sources.base import ClipSpec, Source, SourceContext
from clapldm.corpus.sources.games import SIMPLE_COLLECTORS
from clapldm.corpus.sources.midi import collect_midi_drums, collect_midi_notes, collect_midi_phrases
from clapldm.corpus.sources.speech import collect_speech


def _deb(name: str) -> Source:
    packages, fn = SIMPLE_COLLECTORS[name]
    return Source(name, tuple(packages), fn)


# small and quick first, so a usable manifest exists early; the two big downloads last
SOURCES: dict[str, Source] = {
    source.name: source
    for source in [
        _deb("sound-themes"),
        _deb("minetest-data"),
        _deb("lincity-ng-data"),
        Source("midi-notes", (), collect_midi_notes, "synthetic", ("fluidsynth",), ("midi_notes",)),
        Source("speech", (), collect_speech, "synthetic", (), ("speech_lines",)),
        Source(
            "midi-drums", (), collect_midi_drums, "synthetic", ("fluidsynth",), ("drum_patterns",)
        ),
        Source(
            "midi-phrases",
            (),
            collect_midi_phrases,
            "synthetic",
            ("fluidsynth",),
            ("midi_phrases",),
        ),
        Source("hydrogen-drumkits", ("hydrogen-drumkits",), collect_hydrogen),
        _deb("wesnoth-1.16-data"),
        Source("hedgewars-data", ("hedgewars-data",), collect_hedgewars),
        Source("tuxpaint", ("tuxpaint-stamps-default",), collect_tuxpaint),
        _deb("freedroidrpg-data"),
        _deb("megaglest-data"),
        _deb("widelands-data"),
        _deb("supertuxkart-data"),
        Source("0ad-data", ("0ad-data",), collect_0ad),
    ]
}

__all__ = ["SOURCES", "ClipSpec", "Source", "SourceContext"]
