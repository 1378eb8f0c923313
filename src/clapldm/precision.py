"""Opt-in bf16 inference: weights cast once, fp32 originals kept (or freed) for going back.

`WeightPrecision` holds what `AudioLDM.set_precision` changes: the conv / linear weights of
the modules that only ever run under autocast are cast to bf16 once (not at every call);
norms, the sampler state, the VAE encoder and the CLAP stay fp32. Switching back restores
the exact fp32 tensors, unless they were freed (`keep_fp32=False`: less memory, and the
weights can then neither go back to fp32 nor be saved).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from clapldm.errors import InvalidInputError
from clapldm.request import check_precision

CAST_LAYERS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.ConvTranspose1d, torch.nn.Linear)


class WeightPrecision:
    """The precision ("fp32" or "bf16") of a set of modules' conv / linear weights."""

    def __init__(self) -> None:
        self.precision = "fp32"
        self.fp32_weights: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
        self.fp32_dropped = False

    def set(
        self, precision: str, modules: Sequence[torch.nn.Module], *, keep_fp32: bool = True
    ) -> None:
        """Cast `modules` to `precision`; `keep_fp32=False` frees the fp32 originals."""
        precision = check_precision(precision)
        if precision != self.precision:
            if precision == "fp32" and self.fp32_dropped:
                raise InvalidInputError(
                    "this pipeline's fp32 weights were freed (bf16 with keep_fp32=False); "
                    "load the model again for fp32"
                )
            if precision == "fp32":
                self._restore()
            else:
                self._cast(modules, torch.bfloat16)
        if precision == "bf16" and not keep_fp32:
            self.fp32_weights = []
            self.fp32_dropped = True
        self.precision = precision

    @contextlib.contextmanager
    def scoped(self, precision: str | None, modules: Sequence[torch.nn.Module]) -> Iterator[None]:
        """Run at `precision` (None: as set) inside the block, then go back."""
        previous = self.precision
        if precision is not None:
            self.set(precision, modules)
        try:
            yield
        finally:
            if precision is not None:
                self.set(previous, modules)

    def autocast(self, device_type: str) -> Any:
        """The autocast context the cast modules run under."""
        if self.precision == "bf16":
            return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _cast(self, modules: Sequence[torch.nn.Module], dtype: torch.dtype) -> None:
        for root in modules:
            for layer in root.modules():
                if isinstance(layer, CAST_LAYERS):
                    for param in layer.parameters(recurse=False):
                        if param.dtype == torch.float32:
                            self.fp32_weights.append((param, param.data))
                            param.data = param.data.to(dtype)

    def _restore(self) -> None:
        for param, original in self.fp32_weights:
            param.data = original
        self.fp32_weights = []
