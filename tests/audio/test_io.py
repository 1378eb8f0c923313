"""Audio I/O: resampling/mixing, round trips with tags, and every bad-file error."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from clapldm.audio.io import read_audio, read_tags, to_mono_resampled, write_audio
from clapldm.errors import AudioReadError, OutputError

TAGS = {"prompt": "a dog barks = twice, ünïcode", "seed": "42", "sampler": "ddim"}


def _tone(sample_rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("source_sr", [8000, 16000, 48000, 96000])
def test_read_resamples_to_target(tmp_path, source_sr: int) -> None:
    path = tmp_path / "in.wav"
    sf.write(path, _tone(source_sr, 0.5), source_sr, subtype="FLOAT")
    audio = read_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.shape == (8000,)
    expected = _tone(16000, 0.5)
    # Away from the edges the resampled tone matches the tone made at 16 kHz.
    assert np.abs(audio[500:-500] - expected[500:-500]).max() < 2e-3


def test_six_channels_mixed_by_mean(tmp_path) -> None:
    channels = np.stack([_tone(16000, 0.25) * (i + 1) / 6 for i in range(6)], axis=1)
    path = tmp_path / "surround.flac"
    sf.write(path, channels, 16000, subtype="PCM_24")
    audio = read_audio(path, 16000)
    np.testing.assert_allclose(audio, channels.mean(axis=1), atol=1e-5)


def test_read_bytes_and_stream(tmp_path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, _tone(16000, 0.1), 16000, subtype="FLOAT")
    data = path.read_bytes()
    np.testing.assert_array_equal(read_audio(data, 16000), read_audio(path, 16000))
    with path.open("rb") as stream:
        np.testing.assert_array_equal(read_audio(stream, 16000), read_audio(str(path), 16000))


def test_to_mono_resampled_layouts() -> None:
    mono = _tone(16000, 0.1)
    stereo_first = np.stack([mono, mono])  # (2, samples)
    np.testing.assert_allclose(to_mono_resampled(stereo_first, 16000, 16000), mono)
    np.testing.assert_allclose(to_mono_resampled(stereo_first.T, 16000, 16000), mono)
    tensor = torch.from_numpy(stereo_first)
    assert to_mono_resampled(tensor, 16000, 8000).shape == (800,)
    with pytest.raises(AudioReadError, match="no audio samples"):
        to_mono_resampled(np.zeros(0), 16000, 16000)
    with pytest.raises(AudioReadError, match="longer than"):
        to_mono_resampled(mono, 16000, 16000, max_seconds=0.05)


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg"])
def test_write_read_round_trip_with_tags(tmp_path, suffix: str) -> None:
    audio = _tone(16000, 0.5)
    path = write_audio(tmp_path / f"out{suffix}", audio, 16000, tags=TAGS)
    assert read_tags(path) == TAGS
    back = read_audio(path, 16000)
    assert back.shape == audio.shape
    if suffix == ".wav":
        np.testing.assert_array_equal(back, audio)  # float WAV is bit-exact
    elif suffix == ".flac":
        assert np.abs(back - audio).max() < 1e-6
    else:
        assert np.corrcoef(back, audio)[0, 1] > 0.99
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp left over


def test_write_titles_and_clipping(tmp_path) -> None:
    path = write_audio(tmp_path / "t.flac", np.full(1000, 3.0, np.float32), 16000, {"title": "x"})
    assert sf.info(path).samplerate == 16000
    with sf.SoundFile(path) as sound:
        assert sound.title == "x"
    assert read_audio(path, 16000).max() <= 1.0


def test_write_into_missing_folder_leaves_nothing(tmp_path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_audio(tmp_path / "missing" / "out.wav", _tone(16000, 0.1), 16000)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="unsupported output format"):
        write_audio(tmp_path / "out.mp3", _tone(16000, 0.1), 16000)
    with pytest.raises(OutputError, match="non-finite"):
        write_audio(tmp_path / "out.wav", np.array([0.0, np.nan], np.float32), 16000)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_removes_temp_file(tmp_path, monkeypatch) -> None:
    def broken_write(self: sf.SoundFile, data: np.ndarray) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    with pytest.raises(OutputError, match="disk full"):
        write_audio(tmp_path / "out.wav", _tone(16000, 0.1), 16000)
    assert list(tmp_path.iterdir()) == []


def test_bad_files_raise_audio_read_error(tmp_path) -> None:
    with pytest.raises(AudioReadError, match="missing.wav: file not found"):
        read_audio(tmp_path / "missing.wav", 16000)

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioReadError, match="empty.wav: file is empty"):
        read_audio(empty, 16000)

    text = tmp_path / "text.wav"
    text.write_text("this is not audio\n" * 20)
    with pytest.raises(AudioReadError, match="text.wav: not a readable audio file"):
        read_audio(text, 16000)

    full = tmp_path / "full.wav"
    sf.write(full, _tone(16000, 0.5), 16000, subtype="PCM_16")
    data = full.read_bytes()
    cut_data = tmp_path / "cut_data.wav"
    cut_data.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioReadError, match="cut_data.wav: truncated"):
        read_audio(cut_data, 16000)
    cut_header = tmp_path / "cut_header.wav"
    cut_header.write_bytes(data[:30])
    with pytest.raises(AudioReadError, match="cut_header.wav"):
        read_audio(cut_header, 16000)

    flac = tmp_path / "full.flac"
    sf.write(flac, _tone(16000, 0.5), 16000, subtype="PCM_16")
    cut_flac = tmp_path / "cut.flac"
    cut_flac.write_bytes(flac.read_bytes()[: flac.stat().st_size // 2])
    with pytest.raises(AudioReadError, match="cut.flac"):
        read_audio(cut_flac, 16000)

    with pytest.raises(AudioReadError, match="audio bytes"):
        read_audio(b"RIFF1234not really", 16000)


def test_zero_samples_nan_and_too_long(tmp_path) -> None:
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="zero.wav: holds no audio samples"):
        read_audio(zero, 16000)

    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, np.inf, 0.1], np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="nan.wav: holds non-finite"):
        read_audio(nan, 16000)

    long = tmp_path / "long.wav"
    sf.write(long, _tone(8000, 2.0), 8000, subtype="PCM_16")
    with pytest.raises(AudioReadError, match=r"long.wav: 2.00 s is longer than the 1.5 s limit"):
        read_audio(long, 16000, max_seconds=1.5)
    assert read_audio(long, 16000, max_seconds=2.0).shape == (32000,)


def test_mp3_reads(tmp_path) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip("libsndfile without MP3")
    path = tmp_path / "a.mp3"
    sf.write(path, _tone(16000, 1.0), 16000, format="MP3")
    audio = read_audio(path, 22050)
    assert abs(audio.shape[0] - 22050) < 2000 and np.isfinite(audio).all()
