"""Property tests: loaders, parsers and validators raise only the project's own errors, and
what they accept is exactly what an independent statement of the rule accepts, unchanged."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clapldm.audio.io import read_audio
from clapldm.config import MelConfig, UNetConfig, VAEConfig
from clapldm.errors import ClapLdmError
from clapldm.request import (
    MAX_PROMPT_CHARS,
    check_duration,
    check_number,
    check_prompts,
    check_regions,
    parse_region,
)

EXAMPLES = 150
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400)])  # beyond float range
    | st.floats()
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def is_real_number(value: object) -> bool:
    """int or float, not bool, finite (ints beyond float range count as not finite)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_audio_loader_bytes(data: bytes) -> None:
    try:
        wave = read_audio(data, 16000, max_seconds=60)
    except ClapLdmError:
        return
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(min_size=44, max_size=2048))
def test_audio_loader_wav_with_garbage_body(body: bytes) -> None:
    """Any body of a well-formed 16 kHz 16-bit mono WAV is audio: it decodes to its
    frames, resampled to 22.05 kHz."""
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(body))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
        + b"data"
        + struct.pack("<I", len(body))
    )
    try:
        wave = read_audio(io.BytesIO(header + body), 22050)
    except ClapLdmError:
        return
    frames = len(body) // 2
    assert wave.dtype == np.float32 and wave.ndim == 1 and np.isfinite(wave).all()
    assert abs(len(wave) - frames * 22050 / 16000) <= 1


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.text(max_size=30)
    | st.tuples(st.floats(-5, 15), st.floats(-5, 15)).map(lambda r: f"{r[0]}:{r[1]}")
)
def test_region_parser(text: str) -> None:
    parts = text.split(":")
    try:
        start, end = parse_region(text)
    except ClapLdmError:
        return
    assert len(parts) == 2
    for value, part in zip((start, end), parts):
        expected = float(part)
        assert value == expected or (math.isnan(value) and math.isnan(expected))
    try:
        checked = check_regions([(start, end)], 10.0)
    except ClapLdmError:
        assert not (0 <= start < end <= 10.0 + 1e-6)
        return
    assert checked == [(start, min(end, 10.0))] and 0 <= start < end <= 10.0 + 1e-6


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.lists(st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)), max_size=5)
    | st.lists(st.lists(json_values, max_size=3), max_size=3),
    st.floats(min_value=0.01, max_value=100),
)
def test_region_lists(regions: list[tuple[float, float]], duration: float) -> None:
    try:
        checked = check_regions(regions, duration)
    except ClapLdmError:
        return
    assert all(len(region) == 2 for region in regions)
    assert checked == sorted((float(a), min(float(b), duration)) for a, b in regions)
    assert all(0 <= a < b <= duration for a, b in checked)
    for (_, b), (c, _) in zip(checked, checked[1:]):
        assert b <= c


@settings(max_examples=EXAMPLES, deadline=None)
@given(json_values, json_values, st.text(max_size=50) | st.lists(st.text(max_size=5), max_size=3))
def test_request_validation(duration: object, number: object, prompt: object) -> None:
    duration_ok = is_real_number(duration) and 0 < duration <= 30.0  # type: ignore[operator]
    try:
        assert check_duration(duration, 30.0) == duration  # type: ignore[arg-type]
        assert duration_ok, f"accepted duration {duration!r}"
    except ClapLdmError:
        assert not duration_ok, f"rejected duration {duration!r}"

    number_ok = is_real_number(number) and 0 <= number <= 100  # type: ignore[operator]
    try:
        accepted = check_number("guidance", number, 0, 100)  # type: ignore[arg-type]
        assert number_ok and isinstance(accepted, float) and accepted == number
    except ClapLdmError:
        assert not number_ok, f"rejected guidance {number!r}"

    texts = [prompt] if isinstance(prompt, str) else prompt
    prompt_ok = bool(texts) and all(
        isinstance(t, str) and t.strip() and len(t) <= MAX_PROMPT_CHARS
        for t in texts  # type: ignore[union-attr]
    )
    try:
        assert check_prompts(prompt) == texts  # type: ignore[arg-type]
        assert prompt_ok, f"accepted prompt {prompt!r}"
    except ClapLdmError:
        assert not prompt_ok, f"rejected prompt {prompt!r}"


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
            config = cls.from_dict(data)
        except ClapLdmError:
            continue
        stored = config.to_dict()
        assert set(data) <= set(stored), f"{cls.__name__} accepted unknown keys"
        for key, value in data.items():
            assert stored[key] == value, f"{cls.__name__}.{key}: {value!r} became {stored[key]!r}"
