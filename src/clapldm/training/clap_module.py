"""Stage "clap": train a `CompactClap` contrastively on (clip, caption) pairs.

Loss: symmetric InfoNCE over the batch (gathered across DDP ranks, with gradients), with
the model's learned temperature (``logit_scale``, CLIP's init 1/0.07, capped at 100).
The text tower is frozen unless ``model.text_train_layers`` > 0; when frozen, its sentence
features of every caption are computed once and cached in the run folder, so a step costs
only the audio tower and two projections. With pre-encoded features (``clapldm preencode
--stage clap``, audio backbone "aisfx") the audio side of a step is two small MLPs.

``clap.pitch_weight`` adds an auxiliary loss: a linear MIDI-pitch classifier on each
tower's embedding, for the clips that are labelled notes (training-only heads, not
exported), so that both towers keep a note's pitch where the contrastive loss can use it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from clapldm.errors import DataError
from clapldm.fileio import atomic_path
from clapldm.models.compact_clap import (
    CompactClap,
    SfxAudioEncoder,
    load_text_tower,
)
from clapldm.training.common import StageModule, lr_lambda, make_adam
from clapldm.training.config import ClapTrainConfig, TrainingRun
from clapldm.training.losses import contrastive_loss, retrieval_accuracy

logger = logging.getLogger(__name__)

TEXT_CACHE_BATCH = 256
MIDI_PITCHES = 128


class ClapModule(StageModule):
    """LightningModule of the CLAP stage. Batch: {"wave": (B, S), "caption": list[str]}."""

    checkpoint_exclude: tuple[str, ...] = ("clap.text_encoder.",)

    def __init__(self, run: TrainingRun) -> None:
        super().__init__(run)
        options: ClapTrainConfig = run.options
        text_encoder = tokenizer = None
        if not run.model.text_package:
            if not options.text_tower:
                raise DataError(
                    "the CLAP config names no text_package; set clap.text_tower to a text encoder folder"
                )
            text_encoder, tokenizer = load_text_tower(Path(options.text_tower))
        self.clap = CompactClap(run.model, text_encoder, tokenizer)
        if isinstance(self.clap.audio_encoder, SfxAudioEncoder):
            # Fresh runs start from the pretrained aiSFX trunk; a resume overwrites it with
            # the checkpoint's (identical, frozen) copy.
            self.clap.audio_encoder.load_pretrained_trunk()
        # The frozen text tower stays out of checkpoints (it is re-loaded from its source);
        # the layers that train are saved.
        self.checkpoint_exclude = tuple(
            f"clap.{key}"
            for key in self.clap.state_dict()
            if key.startswith("text_encoder.") and not key.startswith(self.clap.trained_text_layers)
        )
        if options.pitch_weight > 0:
            self.pitch_audio = nn.Linear(run.model.embed_dim, MIDI_PITCHES)
            self.pitch_text = nn.Linear(run.model.embed_dim, MIDI_PITCHES)
        self._text_index: dict[str, int] = {}
        self._text_features = torch.zeros(0)
        self.setup_ema()

    def trained_module(self) -> nn.Module:
        return self.clap

    def requires_caption(self) -> bool:
        return True

    def segment_samples(self) -> int:
        mel = self.run.mel
        return max(mel.hop_length, round(self.run.train.segment_seconds * mel.sample_rate))

    # ------------------------------------------------------------------ text cache
    def prepare_data_info(self, captions: list[str], cache_dir: Path | None) -> None:
        """Compute (or load from ``cache_dir``) the frozen text features of ``captions``."""
        if not self.run.options.precompute_text or self.clap.trained_text_layers:
            return
        unique = sorted(set(c for c in captions if c))
        digest = hashlib.sha256(
            json.dumps([self.run.model.to_dict(), unique]).encode()
        ).hexdigest()[:16]
        cache_file = cache_dir / f"text_features-{digest}.safetensors" if cache_dir else None
        if cache_file is not None and cache_file.is_file():
            features = load_file(str(cache_file))["features"]
        else:
            logger.info("computing frozen text features of %d captions", len(unique))
            chunks = [
                self.clap.text_features(unique[i : i + TEXT_CACHE_BATCH]).cpu()
                for i in range(0, len(unique), TEXT_CACHE_BATCH)
            ]
            features = torch.cat(chunks) if chunks else torch.zeros(0, self.run.model.text_dim)
            if cache_file is not None:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(cache_file) as temp:
                    save_file({"features": features.contiguous()}, str(temp))
        self._text_index = {text: i for i, text in enumerate(unique)}
        self._text_features = features

    def text_features(self, captions: list[str]) -> torch.Tensor:
        """(B, text_dim) sentence features: from the cache when the text tower is frozen."""
        if self.clap.trained_text_layers:
            return self.clap.text_features(captions)
        if self._text_index and all(c in self._text_index for c in captions):
            rows = torch.tensor([self._text_index[c] for c in captions])
            return self._text_features[rows].to(self.device)
        return self.clap.text_features(captions).to(self.device)

    # --------------------------------------------------------------------- training
    def configure_optimizers(self) -> Any:
        prefixes = tuple(f"clap.{k}" for k in self.clap.trained_text_layers)
        trainable = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        text_layers = [p for n, p in trainable if prefixes and n.startswith(prefixes)]
        rest = [p for n, p in trainable if not (prefixes and n.startswith(prefixes))]
        groups: list[dict[str, Any]] = [{"params": rest}]
        if text_layers:  # pretrained layers fine-tune at their own (smaller) rate
            groups.append(
                {"params": text_layers, "lr": self.run.options.text_lr or self.run.train.lr}
            )
        optimizer = make_adam(groups, self.run.train.lr, self.run)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(self.run))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        captions: list[str] = list(batch["caption"])
        if any(not c for c in captions):
            raise DataError("a training clip has no caption; the CLAP stage needs captions")
        if "aisfx" in batch:  # pre-encoded features
            audio = self.clap.embed_features(batch["aisfx"], batch["stats"])  # (B, D)
        elif isinstance(self.clap.audio_encoder, SfxAudioEncoder):  # raw audio: features now
            parts = self.clap.audio_features(  # data is already normalised
                batch["wave"], self.clap.sample_rate, normalize=False
            )
            audio = self.clap.embed_features(*parts)
        else:
            logmel = self.clap.mel(batch["wave"], normalize=False)  # data is already normalised
            audio = self.clap.embed_mel(logmel)  # (B, D)
        features = self.text_features(captions).to(self.clap.logit_scale.dtype)
        text = F.normalize(self.clap.text_projection(features).float(), dim=-1)  # (B, D)
        pitch_loss = self.pitch_loss(audio, text, batch.get("pitch"))
        ids = torch.tensor([zlib.crc32(c.encode("utf-8")) for c in captions], device=self.device)
        audio = self.gather(audio, sync_grads=True)  # negatives from every rank
        text = self.gather(text, sync_grads=True)
        ids = self.gather(ids)
        same = ids[:, None] == ids[None, :] if self.run.options.mask_duplicate_captions else None
        scale = self.clap.logit_scale_value
        contrastive = contrastive_loss(audio, text, scale, same)
        loss = contrastive + self.run.options.pitch_weight * pitch_loss
        self.check_finite(loss)
        self.log_losses(
            {
                "loss": loss,
                "contrastive": contrastive,
                "pitch": pitch_loss,
                "r@1": retrieval_accuracy(audio, text),
                "logit_scale": scale,
            }
        )
        return loss

    def pitch_loss(
        self, audio: torch.Tensor, text: torch.Tensor, pitch: torch.Tensor | None
    ) -> torch.Tensor:
        """Cross-entropy of the MIDI pitch from each tower's (B, D) embedding, over the
        labelled rows (pitch >= 0); zero without heads or labels."""
        if self.run.options.pitch_weight <= 0 or pitch is None:
            return torch.zeros((), device=audio.device)
        pitch = pitch.to(audio.device)
        labelled = pitch >= 0
        if not bool(labelled.any()):
            return torch.zeros((), device=audio.device)
        target = pitch[labelled]
        audio_logits = self.pitch_audio(audio[labelled])
        text_logits = self.pitch_text(text[labelled])
        return F.cross_entropy(audio_logits, target) + F.cross_entropy(text_logits, target)

    # ------------------------------------------------------------------------ export
    def export(self, folder: Path, use_ema: bool = True) -> None:
        clap = self.module_for_export(use_ema)
        assert isinstance(clap, CompactClap)
        clap.save_pretrained(folder)


__all__ = ["ClapModule"]
