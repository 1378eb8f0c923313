"""Property tests: loaders, parsers and validators raise only the project's own errors."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clapldm.audio.io import read_audio
from clapldm.config import MelConfig, UNetConfig, VAEConfig
from clapldm.editing import check_regions, parse_region
from clapldm.errors import ClapLdmError
from clapldm.pipeline import check_duration, check_number, check_prompts

EXAMPLES = 150
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_audio_loader_bytes(data: bytes) -> None:
    try:
        wave = read_audio(data, 16000, max_seconds=60)
    except ClapLdmError:
        return
    assert wave.dtype == np.float32 and np.isfinite(wave).all()


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(min_size=44, max_size=2048))
def test_audio_loader_wav_with_garbage_body(body: bytes) -> None:
    import io
    import struct

    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(body))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data"
        + struct.pack("<I", len(body))
    )
    try:
        read_audio(io.BytesIO(header + body), 22050)
    except ClapLdmError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.text(max_size=30))
def test_region_parser(text: str) -> None:
    try:
        start, end = parse_region(text)
        check_regions([(start, end)], 10.0)
    except ClapLdmError:
        pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)), max_size=5),
    st.floats(min_value=0.01, max_value=100),
)
def test_region_lists(regions: list[tuple[float, float]], duration: float) -> None:
    try:
        checked = check_regions(regions, duration)
    except ClapLdmError:
        return
    for (a, b), (c, _) in zip(checked, checked[1:]):
        assert a < b <= c


@settings(max_examples=EXAMPLES, deadline=None)
@given(json_values, json_values, st.text(max_size=50) | st.lists(st.text(max_size=5), max_size=3))
def test_request_validation(duration: object, number: object, prompt: object) -> None:
    for call in (
        lambda: check_duration(duration, 30.0),  # type: ignore[arg-type]
        lambda: check_number("guidance", number, 0, 100),  # type: ignore[arg-type]
        lambda: check_prompts(prompt),
    ):  # type: ignore[arg-type]
        try:
            call()
        except ClapLdmError:
            pass


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "sample_rate",
                "n_mels",
                "hop_length",
                "f_max",
                "padding",
                "ch_mult",
                "heads",
                "channel_mult",
                "bogus",
                "ch",
                "z_channels",
            ]
        ),
        json_values,
        max_size=5,
    )
)
def test_config_loading(data: dict[str, object]) -> None:
    for cls in (MelConfig, VAEConfig, UNetConfig):
        try:
            cls.from_dict(data)
        except ClapLdmError:
            pass
