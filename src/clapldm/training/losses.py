"""Training losses, kept out of the models (each a plain function of tensors)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from clapldm.models.vae import DiagonalGaussian


# ----------------------------------------------------------------------------- CLAP
def contrastive_loss(
    audio: torch.Tensor,
    text: torch.Tensor,
    logit_scale: torch.Tensor,
    same_caption: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP / CLAP): mean of audio->text and text->audio cross-entropy.

    audio, text: (B, D) unit-norm; logit_scale: scalar (exp of the learned temperature's
    inverse, already capped). ``same_caption`` (B, B) bool marks off-diagonal pairs that
    share a caption; they are removed from the negatives (they are not wrong matches).
    """
    logits = logit_scale * audio @ text.t()  # (B, B)
    if same_caption is not None:
        eye = torch.eye(logits.shape[0], dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(same_caption & ~eye, float("-inf"))
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def retrieval_accuracy(audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Fraction of clips whose own caption is the nearest text in the batch (R@1)."""
    with torch.no_grad():
        best = (audio @ text.t()).argmax(dim=1)
        return (best == torch.arange(audio.shape[0], device=audio.device)).float().mean()


# ------------------------------------------------------------------------------ VAE
def kl_per_element(posterior: DiagonalGaussian) -> torch.Tensor:
    """KL(q || N(0, I)) averaged over batch and latent elements (a scalar)."""
    return posterior.kl().sum() / posterior.mean.numel()


def multiresolution_mel_loss(
    target: torch.Tensor, recon: torch.Tensor, scales: tuple[int, ...]
) -> torch.Tensor:
    """L1 between log-mel images (B, 1, T, F) average-pooled by each factor in ``scales``
    (along time and frequency), averaged over scales: it weighs broad spectral shape the
    way LPIPS's deeper features weigh image structure."""
    losses = []
    for scale in scales:
        kernel = (min(scale, target.shape[-2]), min(scale, target.shape[-1]))
        losses.append(F.l1_loss(F.avg_pool2d(recon, kernel), F.avg_pool2d(target, kernel)))
    return torch.stack(losses).mean()


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """PatchGAN hinge loss for the discriminator: 0.5 (E relu(1 - D(x)) + E relu(1 + D(x^)))."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def adaptive_weight(
    rec_loss: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, max_weight: float = 1e4
) -> torch.Tensor:
    """taming-transformers' balance: ||d rec / d W|| / (||d g / d W|| + 1e-4) at the
    decoder's last layer W, clamped to [0, max_weight] and detached."""
    rec_grads = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
    g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = torch.norm(rec_grads) / (torch.norm(g_grads) + 1e-4)
    return torch.clamp(weight, 0.0, max_weight).detach()


# ------------------------------------------------------------------------- HiFi-GAN
def feature_matching_loss(
    real_maps: list[list[torch.Tensor]], fake_maps: list[list[torch.Tensor]]
) -> torch.Tensor:
    """Sum over discriminators and layers of mean |D_l(y) - D_l(y^)| (HiFi-GAN eq. 3)."""
    total = torch.zeros((), device=fake_maps[0][0].device)
    for real_layers, fake_layers in zip(real_maps, fake_maps, strict=True):
        for real, fake in zip(real_layers, fake_layers, strict=True):
            total = total + (real.detach() - fake).abs().mean()
    return total


def lsgan_d_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN, discriminator side: sum of E (1 - D(y))^2 + E D(y^)^2."""
    total = torch.zeros((), device=real_logits[0].device)
    for real, fake in zip(real_logits, fake_logits, strict=True):
        total = total + ((1.0 - real) ** 2).mean() + (fake**2).mean()
    return total


def lsgan_g_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """Least-squares GAN, generator side: sum of E (1 - D(y^))^2."""
    total = torch.zeros((), device=fake_logits[0].device)
    for fake in fake_logits:
        total = total + ((1.0 - fake) ** 2).mean()
    return total


# ------------------------------------------------------------------------------ LDM
def eps_mse(eps_pred: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The simple DDPM loss: mean squared error of the predicted noise."""
    return F.mse_loss(eps_pred.float(), eps.float())


__all__ = [
    "adaptive_weight",
    "contrastive_loss",
    "eps_mse",
    "feature_matching_loss",
    "hinge_d_loss",
    "kl_per_element",
    "lsgan_d_loss",
    "lsgan_g_loss",
    "multiresolution_mel_loss",
    "retrieval_accuracy",
]
