"""``evaluate``: FD / FAD / KL / IS / CLAP score between a generated and a reference folder.

The reference setting is audioldm_eval's: every file mono at 16 kHz; FD on PANNs CNN14
2048-d embeddings (one per file), KL (softmax and sigmoid) and IS on CNN14's logits, FAD
on VGGish 128-d embeddings (one per 0.96 s example, pooled over files), CLAP score as the
mean text-audio cosine. Offline, any audio-text embedder (the project's CLAP) can stand
in for FD and FAD: such results carry the backbone ``clap-audio:<name>`` in their key
(``fd[clap-audio:<name>]``), so numbers from different backbones are never confused.

Differences from audioldm_eval, on purpose: files are paired by stem (``a.wav`` with
``a.flac``), not by full name, and KL is computed over the pairs found (unpaired files
are listed as skipped) instead of returning -1 unless 99% of names match; resampling is
soxr for every backbone (the reference uses torchaudio for CNN14 and resampy for VGGish);
VGGish reads float samples (the reference reads 16-bit integers).

One more backbone, not in audioldm_eval: ``aisfx`` (FD on the 512-d embeddings of the
aiSFX sound-effects network, files read at 44.1 kHz; see ``clapldm.eval.aisfx``), whose
weights ship in the PyPI package ``aisfx``, so it runs offline once that is installed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from clapldm.errors import AudioReadError, ClapLdmError, InvalidInputError, ModelLoadError
from clapldm.eval.aisfx import (
    AISFX_LABEL,
    AISFX_SAMPLE_RATE,
    aisfx_file_embedding,
    load_aisfx,
)
from clapldm.eval.cnn14 import Cnn14, load_cnn14
from clapldm.eval.files import (
    EVAL_SAMPLE_RATE,
    SkippedFile,
    caption_for,
    duplicate_stems,
    index_captions,
    list_files,
    manifest_files,
    read_mono,
)
from clapldm.eval.metrics import (
    clap_score,
    frechet_from_features,
    inception_score,
    kl_divergence,
)
from clapldm.eval.vggish import Vggish, load_vggish
from clapldm.models.aisfx import AISFX_PACKAGE, AISFX_VERSION, AisfxEmbedder

logger = logging.getLogger(__name__)

METRICS = ("fd", "fad", "kl", "is", "clap")
BACKBONES = ("cnn14", "vggish", "clap", "aisfx")
# Which backbones can produce each metric.
METRIC_BACKBONES = {
    "fd": ("cnn14", "clap", "aisfx"),
    "fad": ("vggish", "clap"),
    "kl": ("cnn14",),
    "is": ("cnn14",),
    "clap": ("clap",),
}
# What a user supplies to enable each backbone (for "skipped" messages).
BACKBONE_HINTS = {
    "cnn14": "--cnn14-weights FILE (PANNs Cnn14_16k_mAP=0.438.pth)",
    "vggish": "--vggish-weights FILE (torchvggish vggish-10086976.pth)",
    "clap": "a CLAP model",
    "aisfx": f"--backbone aisfx with `pip install --no-deps {AISFX_PACKAGE}=={AISFX_VERSION}`",
}
CNN14_LABEL = "panns-cnn14-16k"
VGGISH_LABEL = "vggish"


@runtime_checkable
class AudioTextEmbedder(Protocol):
    """What evaluation needs from a CLAP model (``clapldm.models.clap.TextAudioEncoder``).

    ``embed_audio``: wave (B, samples) float at ``sample_rate`` Hz -> (B, D).
    ``embed_text``: B captions -> (B, D). Both L2-normalised, in one shared space. An
    optional ``name`` attribute labels the backbone in reports.
    """

    def embed_audio(self, wave: torch.Tensor, sample_rate: int) -> torch.Tensor: ...

    def embed_text(self, texts: list[str]) -> torch.Tensor: ...


def embedder_name(encoder: object) -> str:
    """A short label for an embedder: its ``name`` attribute, else its class name."""
    name = getattr(encoder, "name", None)
    return name if isinstance(name, str) and name else type(encoder).__name__


@dataclass
class MetricResult:
    """One number: which metric, on which backbone, over how many files."""

    metric: str  # "fd", "fad", "kl_softmax", "kl_sigmoid", "is", "clap_score"
    backbone: str  # "panns-cnn14-16k", "vggish", "clap-audio:<name>", "clap:<name>"
    value: float
    std: float | None = None  # IS only: std over splits
    generated: int = 0  # generated files (or pairs, for KL) used
    reference: int | None = None  # reference files (or pairs) used; None if not used
    detail: str = ""

    @property
    def key(self) -> str:
        """Unique report key, e.g. ``fd[panns-cnn14-16k]`` or ``fd[clap-audio:mini]``."""
        return f"{self.metric}[{self.backbone}]"


@dataclass
class EvalReport:
    """Everything ``clapldm eval`` prints and writes: results, files used and skipped."""

    generated_dir: str
    reference_dir: str
    sample_rate: int = EVAL_SAMPLE_RATE
    results: list[MetricResult] = field(default_factory=list)
    skipped_metrics: dict[str, str] = field(default_factory=dict)
    files_used: dict[str, int] = field(default_factory=dict)  # side -> readable files
    files_skipped: list[SkippedFile] = field(default_factory=list)

    def value(self, key: str) -> float:
        """The value of result ``key`` (``"fd[panns-cnn14-16k]"``); KeyError if absent."""
        for result in self.results:
            if result.key == key:
                return result.value
        raise KeyError(key)

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict (see ``to_json``)."""
        return {
            "generated_dir": self.generated_dir,
            "reference_dir": self.reference_dir,
            "sample_rate": self.sample_rate,
            "metrics": {
                r.key: {k: v for k, v in asdict(r).items() if v is not None} for r in self.results
            },
            "skipped_metrics": dict(self.skipped_metrics),
            "files": {
                side: {
                    "used": self.files_used.get(side, 0),
                    "unreadable": sum(
                        1 for s in self.files_skipped if s.side == side and s.metrics == ("all",)
                    ),
                }
                for side in ("generated", "reference")
            },
            "skipped_files": [
                {**asdict(s), "metrics": list(s.metrics)} for s in self.files_skipped
            ],
        }

    def to_json(self, indent: int = 2) -> str:
        """The report as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def _uses_aisfx(self) -> bool:
        return any(r.backbone == AISFX_LABEL for r in self.results)

    def to_table(self) -> str:
        """A plain-text table of results, then skipped metrics and files."""
        lines = [
            f"generated: {self.generated_dir} ({self.files_used.get('generated', 0)} files read)",
            f"reference: {self.reference_dir} ({self.files_used.get('reference', 0)} files read)",
            f"all audio resampled to {self.sample_rate} Hz"
            + (f" ({AISFX_SAMPLE_RATE} Hz for aisfx)" if self._uses_aisfx() else ""),
            "",
        ]
        header = ("metric", "backbone", "value", "n_gen", "n_ref", "note")
        rows = [header]
        for r in self.results:
            value = f"{r.value:.5f}" + (f" ± {r.std:.5f}" if r.std is not None else "")
            n_ref = "-" if r.reference is None else str(r.reference)
            rows.append((r.metric, r.backbone, value, str(r.generated), n_ref, r.detail))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        if len(rows) == 1:
            lines.append("(no metric computed)")
        if self.skipped_metrics:
            lines += ["", "skipped metrics:"]
            lines += [f"  {name}: {reason}" for name, reason in self.skipped_metrics.items()]
        if self.files_skipped:
            lines += ["", f"skipped files ({len(self.files_skipped)}):"]
            lines += [
                f"  {s.side}/{s.name} [{','.join(s.metrics)}]: {s.reason}"
                for s in self.files_skipped
            ]
        return "\n".join(lines)


@dataclass
class _Models:
    """The resolved plan: (metric -> backbones) and the models it uses."""

    plan: dict[str, list[str]]
    cnn14: Cnn14 | None
    vggish: Vggish | None
    encoder: AudioTextEmbedder | None
    aisfx: AisfxEmbedder | None
    captions: dict[str, str]  # index_captions() of the user's captions

    def uses(self, metric: str, backbone: str) -> bool:
        return backbone in self.plan.get(metric, [])

    @property
    def clap_label(self) -> str:
        return f"clap-audio:{embedder_name(self.encoder)}"


@dataclass
class _FileFeatures:
    """Per-file features of one folder, keyed by file name (CPU, float64 numpy)."""

    cnn14_embedding: dict[str, np.ndarray] = field(default_factory=dict)  # (2048,)
    cnn14_logits: dict[str, np.ndarray] = field(default_factory=dict)  # (527,)
    vggish: dict[str, np.ndarray] = field(default_factory=dict)  # (N_examples, 128)
    clap_audio: dict[str, np.ndarray] = field(default_factory=dict)  # (D,)
    aisfx: dict[str, np.ndarray] = field(default_factory=dict)  # (512,)
    readable: list[str] = field(default_factory=list)


def _parse_choices(value: str | Sequence[str], allowed: Sequence[str], what: str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    chosen = [item.strip().lower() for item in items if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown:
        raise InvalidInputError(f"unknown {what} {unknown}; choose from {', '.join(allowed)}")
    if not chosen:
        raise InvalidInputError(f"no {what} given; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(chosen))


def evaluate(
    generated_dir: str | Path,
    reference_dir: str | Path,
    *,
    metrics: str | Sequence[str] = METRICS,
    backbone: str | Sequence[str] = "auto",
    captions: dict[str, str] | None = None,
    encoder: AudioTextEmbedder | None = None,
    cnn14: Cnn14 | str | Path | None = None,
    vggish: Vggish | str | Path | None = None,
    aisfx: AisfxEmbedder | str | Path | None = None,
    device: str | torch.device = "cpu",
    progress: Callable[[str, int, int], None] | None = None,
) -> EvalReport:
    """Compare a folder of generated audio with a folder of reference audio.

    ``generated_dir`` may also be the ``manifest.jsonl`` of ``clapldm generate --prompts``:
    the clips it lists as done are the generated set.

    metrics: subset of ``fd, fad, kl, is, clap`` (a list or a comma-separated string).
    backbone: the feature extractors to use, a subset of ``cnn14, vggish, clap``, or
      ``"auto"`` (default): each one whose model is given. cnn14 gives fd, kl, is (needs
      ``cnn14``: a model or a weights file); vggish gives fad (needs ``vggish``); clap
      gives fd and fad on ``encoder`` audio embeddings (one per file, so the two are the
      same number); aisfx gives fd on aiSFX embeddings (``aisfx``: a model, a
      ``checkpoint.pth``, or None for the installed ``aisfx`` package's weights; with
      ``"auto"`` it is used only when ``aisfx`` is given). Each requested metric is computed on every chosen backbone that
      supports it; a metric that none supports is listed in ``skipped_metrics``.
    captions: {file name or stem: caption}; the CLAP score (``clap``) is the mean cosine
      of ``encoder``'s text and audio embeddings over the captioned generated files. It is
      computed whenever ``encoder`` and ``captions`` are given, whatever ``backbone`` is.
    progress: called as ``progress(side, files_done, files_total)`` while reading.

    Every file is read once, mono, resampled to 16 kHz (and once more at 44.1 kHz for
    aisfx). Raises ``InvalidInputError`` for
    a missing or empty folder or unknown names, ``ModelLoadError`` when a chosen backbone
    has no model; unreadable files are skipped and reported, never fatal.
    """
    gen_dir, ref_dir = Path(generated_dir), Path(reference_dir)
    wanted = _parse_choices(metrics, METRICS, "metrics")
    if isinstance(backbone, str) and backbone.strip().lower() == "auto":
        given = {"cnn14": cnn14, "vggish": vggish, "clap": encoder, "aisfx": aisfx}
        backbones = [name for name, model in given.items() if model is not None]
    else:
        backbones = _parse_choices(backbone, BACKBONES, "backbones")
    gen_files = manifest_files(gen_dir)[0] if gen_dir.is_file() else list_files(gen_dir)
    ref_files = list_files(ref_dir)
    report = EvalReport(generated_dir=str(gen_dir), reference_dir=str(ref_dir))

    plan: dict[str, list[str]] = {}
    for metric in wanted:
        usable = [b for b in METRIC_BACKBONES[metric] if b in backbones]
        if metric == "clap":  # the CLAP score has one backbone: whatever encoder is given
            usable = ["clap"] if encoder is not None else []
        if metric == "clap" and not usable:
            report.skipped_metrics[metric] = "needs a CLAP model (an audio-text embedder)"
        elif not usable:
            options = METRIC_BACKBONES[metric]
            hints = " or ".join(BACKBONE_HINTS[b] for b in options)
            needs = f"needs the {' or '.join(options)} backbone: {hints}"
            report.skipped_metrics[metric] = needs
        elif metric == "clap" and not captions:
            report.skipped_metrics[metric] = "needs captions (--captions CSV with file,caption)"
        else:
            plan[metric] = usable
    uses = {b for chosen in plan.values() for b in chosen}
    if "clap" in uses and encoder is None:
        raise ModelLoadError("the clap backbone needs a CLAP model (an audio-text embedder)")
    models = _Models(
        plan=plan,
        cnn14=_resolve_cnn14(cnn14, device) if "cnn14" in uses else None,
        vggish=_resolve_vggish(vggish, device) if "vggish" in uses else None,
        encoder=encoder,
        aisfx=load_aisfx(aisfx, device) if "aisfx" in uses else None,
        captions=index_captions(captions) if captions else {},
    )
    with torch.inference_mode():
        gen = _extract(gen_files, "generated", models, report, progress)
        ref = _extract(ref_files, "reference", models, report, progress)
        for metric, chosen in plan.items():
            for name in chosen:
                try:
                    report.results += _compute(metric, name, gen, ref, models, report)
                except InvalidInputError as exc:  # too few usable files for this metric
                    label = metric if len(chosen) == 1 else f"{metric}[{name}]"
                    report.skipped_metrics[label] = str(exc)
    return report


def _missing_weights(name: str) -> ModelLoadError:
    return ModelLoadError(
        f"the {name} backbone needs its weights: pass --{name}-weights FILE "
        f"(or --download when online), or choose another --backbone"
    )


def _resolve_cnn14(source: Cnn14 | str | Path | None, device: str | torch.device) -> Cnn14:
    if source is None:
        raise _missing_weights("cnn14")
    return source.eval() if isinstance(source, Cnn14) else load_cnn14(source, device=device)


def _resolve_vggish(source: Vggish | str | Path | None, device: str | torch.device) -> Vggish:
    if source is None:
        raise _missing_weights("vggish")
    return source.eval() if isinstance(source, Vggish) else load_vggish(source, device=device)


def _extract(
    files: list[Path],
    side: str,
    models: _Models,
    report: EvalReport,
    progress: Callable[[str, int, int], None] | None,
) -> _FileFeatures:
    """Read each file once and compute every feature the plan needs; record skips."""
    feats = _FileFeatures()
    is_gen = side == "generated"
    # The reference folder feeds CNN14 only for FD and KL; the generated one also for IS.
    need_cnn14 = models.uses("fd", "cnn14") or models.uses("kl", "cnn14")
    need_cnn14 = need_cnn14 or (is_gen and models.uses("is", "cnn14"))
    need_vggish = models.uses("fad", "vggish")
    need_clap_fd = models.uses("fd", "clap") or models.uses("fad", "clap")
    need_aisfx = models.uses("fd", "aisfx")
    need_caption = is_gen and "clap" in models.plan
    for done, path in enumerate(files, start=1):
        if progress is not None:
            progress(side, done - 1, len(files))
        try:
            wave = read_mono(path, EVAL_SAMPLE_RATE)  # (samples,) float32
        except AudioReadError as exc:
            report.files_skipped.append(SkippedFile(side, path.name, str(exc)))
            continue
        name = path.name
        feats.readable.append(name)
        if need_cnn14 and models.cnn14 is not None:
            cnn14 = models.cnn14
            device = next(cnn14.parameters()).device
            out = cnn14(cnn14.prepare_waveform(wave).to(device))
            feats.cnn14_embedding[name] = out["embedding"][0].double().cpu().numpy()
            feats.cnn14_logits[name] = out["logits"][0].double().cpu().numpy()
        if need_vggish and models.vggish is not None:
            examples = models.vggish.embed_waveform(wave).double().numpy()
            if examples.shape[0] == 0:
                reason = "too short for one VGGish example (0.975 s, 15,600 samples at 16 kHz)"
                report.files_skipped.append(SkippedFile(side, name, reason, ("fad",)))
            else:
                feats.vggish[name] = examples
        has_caption = need_caption and caption_for(name, models.captions) is not None
        if need_caption and not has_caption:
            report.files_skipped.append(SkippedFile(side, name, "no caption", ("clap",)))
        if models.encoder is not None and (need_clap_fd or has_caption):
            try:
                embedding = models.encoder.embed_audio(wave[None], EVAL_SAMPLE_RATE)  # (1, D)
            except ClapLdmError as exc:  # e.g. a clip too short for the CLAP front end
                reason = f"CLAP cannot embed it: {exc}"
                report.files_skipped.append(SkippedFile(side, name, reason, ("fd", "fad", "clap")))
            else:
                feats.clap_audio[name] = embedding[0].detach().double().cpu().numpy()
        if need_aisfx and models.aisfx is not None:
            wave_44k = read_mono(path, AISFX_SAMPLE_RATE)  # the network's own rate
            feats.aisfx[name] = aisfx_file_embedding(models.aisfx, wave_44k).double().numpy()
    if progress is not None:
        progress(side, len(files), len(files))
    report.files_used[side] = len(feats.readable)
    return feats


def _stack(by_name: dict[str, np.ndarray], what: str, side: str, minimum: int) -> np.ndarray:
    """Rows of ``by_name`` in name order, (N, D); at least ``minimum`` of them."""
    if len(by_name) < minimum:
        raise InvalidInputError(
            f"{what} needs at least {minimum} usable {side} files, got {len(by_name)}"
        )
    return np.stack([by_name[name] for name in sorted(by_name)])


def _compute(
    metric: str,
    backbone: str,
    gen: _FileFeatures,
    ref: _FileFeatures,
    models: _Models,
    report: EvalReport,
) -> list[MetricResult]:
    """Compute one (metric, backbone); return its result(s)."""
    if metric == "fd" and backbone == "cnn14":
        gen_emb = _stack(gen.cnn14_embedding, "FD", "generated", 2)
        ref_emb = _stack(ref.cnn14_embedding, "FD", "reference", 2)
        value = frechet_from_features(gen_emb, ref_emb)
        detail = f"{gen_emb.shape[1]}-d embedding, one per file"
        return [MetricResult("fd", CNN14_LABEL, value, None, len(gen_emb), len(ref_emb), detail)]
    if metric == "fd" and backbone == "aisfx":
        gen_emb = _stack(gen.aisfx, "FD", "generated", 2)
        ref_emb = _stack(ref.aisfx, "FD", "reference", 2)
        value = frechet_from_features(gen_emb, ref_emb)
        detail = "512-d, 44.1 kHz, mean of 2.3 s blocks (hop 1.16 s), one per file"
        return [MetricResult("fd", AISFX_LABEL, value, None, len(gen_emb), len(ref_emb), detail)]
    if metric in ("fd", "fad") and backbone == "clap":
        gen_emb = _stack(gen.clap_audio, metric.upper(), "generated", 2)
        ref_emb = _stack(ref.clap_audio, metric.upper(), "reference", 2)
        value = frechet_from_features(gen_emb, ref_emb)
        detail = f"{gen_emb.shape[1]}-d CLAP audio embedding, one per file"
        if metric == "fad":
            detail += " (equals fd on this backbone)"
        label = models.clap_label
        return [MetricResult(metric, label, value, None, len(gen_emb), len(ref_emb), detail)]
    if metric == "fad":
        _stack(gen.vggish, "FAD", "generated", 1)
        _stack(ref.vggish, "FAD", "reference", 1)
        gen_ex = np.concatenate([gen.vggish[n] for n in sorted(gen.vggish)])
        ref_ex = np.concatenate([ref.vggish[n] for n in sorted(ref.vggish)])
        value = frechet_from_features(gen_ex, ref_ex)
        detail = f"128-d, {len(gen_ex)} / {len(ref_ex)} examples of 0.96 s"
        n_gen, n_ref = len(gen.vggish), len(ref.vggish)
        return [MetricResult("fad", VGGISH_LABEL, value, None, n_gen, n_ref, detail)]
    if metric == "kl":
        pairs = _pair_by_stem(gen.cnn14_logits, ref.cnn14_logits, report)
        if not pairs:
            raise InvalidInputError("no generated file has a reference file with the same stem")
        pred = np.stack([gen.cnn14_logits[g] for g, _ in pairs])
        target = np.stack([ref.cnn14_logits[r] for _, r in pairs])
        detail = f"KL(reference || generated), {pred.shape[1]} logits, paired by stem"
        return [
            MetricResult(
                f"kl_{variant}",
                CNN14_LABEL,
                kl_divergence(pred, target, variant),
                None,
                len(pairs),
                len(pairs),
                detail,
            )
            for variant in ("softmax", "sigmoid")
        ]
    if metric == "is":
        logits = _stack(gen.cnn14_logits, "IS", "generated", 1)
        mean, std = inception_score(logits, splits=10)
        detail = f"{min(10, len(logits))} splits, softmax of {logits.shape[1]} logits"
        return [MetricResult("is", CNN14_LABEL, mean, std, len(logits), None, detail)]
    if metric == "clap" and models.encoder is not None:
        names = [n for n in sorted(gen.clap_audio) if caption_for(n, models.captions)]
        if not names:
            raise InvalidInputError("no readable generated file has a caption")
        texts = [caption_for(n, models.captions) or "" for n in names]
        text_emb = models.encoder.embed_text(texts).detach().double().cpu().numpy()
        audio_emb = np.stack([gen.clap_audio[n] for n in names])
        value = clap_score(text_emb, audio_emb)
        label = f"clap:{embedder_name(models.encoder)}"
        detail = "mean cosine(text, audio) over captioned generated files"
        return [MetricResult("clap_score", label, value, None, len(names), None, detail)]
    raise InvalidInputError(f"metric {metric} cannot use backbone {backbone}")


def _pair_by_stem(
    gen: dict[str, np.ndarray], ref: dict[str, np.ndarray], report: EvalReport
) -> list[tuple[str, str]]:
    """(generated name, reference name) pairs with equal stems; others recorded as skipped."""
    indexes: list[dict[str, str]] = []
    for side, names in (("generated", sorted(gen)), ("reference", sorted(ref))):
        ambiguous = duplicate_stems(names)
        index: dict[str, str] = {}
        for name in names:
            if Path(name).stem in ambiguous:
                reason = "another file in the folder has the same stem"
                report.files_skipped.append(SkippedFile(side, name, reason, ("kl",)))
            else:
                index[Path(name).stem] = name
        indexes.append(index)
    gen_index, ref_index = indexes
    for side, index, other in (
        ("generated", gen_index, ref_index),
        ("reference", ref_index, gen_index),
    ):
        for stem, name in sorted(index.items()):
            if stem not in other:
                reason = "no file with the same stem in the other folder"
                report.files_skipped.append(SkippedFile(side, name, reason, ("kl",)))
    return [(gen_index[s], ref_index[s]) for s in sorted(gen_index) if s in ref_index]
