"""``evaluate`` and ``clapldm eval`` end to end on small folders of generated tones, offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from clapldm.errors import InvalidInputError, ModelLoadError
from clapldm.eval.cli import eval_main
from clapldm.eval.cnn14 import Cnn14, Cnn14Config
from clapldm.eval.evaluate import AudioTextEmbedder, evaluate
from clapldm.eval.files import load_captions
from clapldm.eval.vggish import Vggish


class StubClap:
    """Deterministic audio-text embedder: random projection of a mean log-spectrum."""

    name = "stub"

    def __init__(self, dim: int = 16) -> None:
        gen = torch.Generator().manual_seed(0)
        self.audio_proj = torch.randn(257, dim, generator=gen)
        self.dim = dim

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor:
        assert wave.dim() == 2 and sample_rate == 16000
        spec = torch.stft(wave, 512, 160, window=torch.hann_window(512), return_complex=True)
        features = torch.log1p(spec.abs().mean(dim=-1))  # (B, 257)
        return torch.nn.functional.normalize(features @ self.audio_proj, dim=-1)

    def embed_text(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            gen = torch.Generator().manual_seed(sum(text.encode()))
            rows.append(torch.randn(self.dim, generator=gen))
        return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


def _write_tone(path: Path, freq: float, sr: int, seconds: float = 1.2) -> None:
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, 0.4 * np.sin(2 * np.pi * freq * t) * np.exp(-t), sr)


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    gen, ref = tmp_path / "generated", tmp_path / "reference"
    gen.mkdir()
    ref.mkdir()
    for index, freq in enumerate((220, 330, 440, 660, 880)):
        _write_tone(gen / f"clip{index}.wav", freq * 1.03, 16000)
        _write_tone(ref / f"clip{index}.flac", freq, 22050)  # paired by stem, resampled
    (gen / "broken.wav").write_bytes(b"not audio at all")
    _write_tone(ref / "extra.wav", 500, 16000)  # no generated partner
    return gen, ref


def test_stub_follows_the_protocol() -> None:
    assert isinstance(StubClap(), AudioTextEmbedder)


def test_evaluate_with_clap_backbone_offline(folders: tuple[Path, Path]) -> None:
    gen, ref = folders
    captions = {f"clip{i}": f"a tone number {i}" for i in range(4)}  # clip4 has none
    report = evaluate(
        gen, ref, metrics="fd,fad,kl,is,clap", backbone="clap", captions=captions,
        encoder=StubClap(),
    )  # fmt: skip
    keys = {r.key for r in report.results}
    assert keys == {"fd[clap-audio:stub]", "fad[clap-audio:stub]", "clap_score[clap:stub]"}
    fd = report.value("fd[clap-audio:stub]")
    assert fd > 0 and fd == report.value("fad[clap-audio:stub]")
    assert -1.0 <= report.value("clap_score[clap:stub]") <= 1.0
    assert set(report.skipped_metrics) == {"kl", "is"}
    assert "cnn14" in report.skipped_metrics["kl"]
    assert report.files_used == {"generated": 5, "reference": 6}
    skipped = {(s.side, s.name): s for s in report.files_skipped}
    assert skipped["generated", "broken.wav"].metrics == ("all",)
    assert skipped["generated", "clip4.wav"].reason == "no caption"
    table = report.to_table()
    assert "fd" in table and "clap-audio:stub" in table and "broken.wav" in table
    data = json.loads(report.to_json())
    assert data["metrics"]["fd[clap-audio:stub]"]["backbone"] == "clap-audio:stub"
    assert data["files"]["generated"] == {"used": 5, "unreadable": 1}


def test_evaluate_reference_backbones_with_small_random_models(folders) -> None:
    gen, ref = folders
    cnn14 = Cnn14(Cnn14Config(block_channels=(4, 8, 8, 8, 8, 16), classes_num=7)).eval()
    torch.manual_seed(0)
    vggish = Vggish().eval()
    report = evaluate(gen, ref, backbone="cnn14,vggish", cnn14=cnn14, vggish=vggish)
    values = {r.key: r for r in report.results}
    assert set(values) == {
        "fd[panns-cnn14-16k]", "fad[vggish]", "kl_softmax[panns-cnn14-16k]",
        "kl_sigmoid[panns-cnn14-16k]", "is[panns-cnn14-16k]",
    }  # fmt: skip
    assert values["kl_softmax[panns-cnn14-16k]"].generated == 5  # 5 stems paired
    assert values["is[panns-cnn14-16k]"].std is not None
    assert values["fad[vggish]"].generated == 5 and values["fad[vggish]"].reference == 6
    assert report.skipped_metrics == {"clap": "needs a CLAP model (an audio-text embedder)"}
    unpaired = [s for s in report.files_skipped if s.metrics == ("kl",)]
    assert [(s.side, s.name) for s in unpaired] == [("reference", "extra.wav")]
    # Identical folders: FD 0, KL 0 (up to the reference's 1e-6 inside the log).
    same = evaluate(gen, gen, metrics="fd,kl", cnn14=cnn14)
    assert same.value("fd[panns-cnn14-16k]") == pytest.approx(0.0, abs=1e-6)
    assert abs(same.value("kl_softmax[panns-cnn14-16k]")) <= 7e-6


def test_evaluate_errors(folders, tmp_path: Path) -> None:
    gen, ref = folders
    with pytest.raises(InvalidInputError):
        evaluate(tmp_path / "missing", ref, encoder=StubClap())
    with pytest.raises(InvalidInputError):
        evaluate(gen, ref, metrics="fd,psnr", encoder=StubClap())
    with pytest.raises(ModelLoadError, match="cnn14-weights"):
        evaluate(gen, ref, backbone="cnn14")


def test_cli_end_to_end(folders, tmp_path: Path, capsys) -> None:
    gen, ref = folders
    captions = tmp_path / "captions.csv"
    captions.write_text("file,caption\nclip0.wav,a low tone\nclip1,a higher tone\n")
    assert load_captions(captions) == {"clip0.wav": "a low tone", "clip1": "a higher tone"}
    out = tmp_path / "out" / "report.json"
    code = eval_main(
        [str(gen), str(ref), "--captions", str(captions), "--json", str(out)],
        encoder_loader=lambda spec, device: StubClap(),
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "fd" in printed.out and "clap-audio:stub" in printed.out
    data = json.loads(out.read_text())
    assert set(data["metrics"]) == {
        "fd[clap-audio:stub]", "fad[clap-audio:stub]", "clap_score[clap:stub]",
    }  # fmt: skip
    assert data["metrics"]["clap_score[clap:stub]"]["generated"] == 2
    assert data["skipped_metrics"]["kl"].startswith("needs the cnn14 backbone")

    code = eval_main(
        [str(tmp_path / "nope"), str(ref)], encoder_loader=lambda spec, device: StubClap()
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: not a folder")

    # Asked for a backbone without weights: one line, non-zero.
    code = eval_main([str(gen), str(ref), "--backbone", "vggish"])
    err = capsys.readouterr().err
    assert code == 2 and "--vggish-weights" in err and err.count("\n") == 1


def test_main_cli_registration_and_default_loader(folders, tmp_path: Path, capsys) -> None:
    import argparse

    from clapldm.eval import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", str(folders[0]), str(folders[1]), "--metrics", "fd"])
    assert args.eval_device == "cpu" and callable(args.func)
    # The default loader names what is missing instead of failing obscurely.
    with pytest.raises(ModelLoadError, match="no CLAP folder"):
        cli.default_encoder_loader(str(tmp_path), "cpu")
    # --clap given explicitly but unusable: one line, exit 2.
    code = eval_main([str(folders[0]), str(folders[1]), "--clap", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no CLAP folder" in err


def test_cli_with_the_project_compact_clap_offline(folders, tmp_path: Path, capsys) -> None:
    """The real CompactClap class (tiny random weights) through the default loader."""
    from clapldm import testing

    clap_folder = tmp_path / "mini" / "clap"  # a model folder with a clap/ subfolder
    testing.tiny_compact_clap(clap_folder, embed_dim=16)
    captions = tmp_path / "captions.csv"
    captions.write_text("file,caption\nclip0,a low tone\nclip1,a higher tone\n")
    out = tmp_path / "report.json"
    argv = [str(folders[0]), str(folders[1]), "--clap", str(tmp_path / "mini")]
    code = eval_main([*argv, "--captions", str(captions), "--json", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    data = json.loads(out.read_text())
    assert set(data["metrics"]) == {
        "fd[clap-audio:mini]", "fad[clap-audio:mini]", "clap_score[clap:mini]",
    }  # fmt: skip
    assert data["metrics"]["fd[clap-audio:mini]"]["value"] >= 0.0
    assert "clap-audio:mini" in printed.out
