"""clapldm: text-to-audio generation and editing with CLAP-conditioned latent diffusion."""

__version__ = "0.1.0"
