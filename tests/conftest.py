"""Shared fixtures: tiny random models only; no network, no GPU."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import torch
from require_all import pytest_make_collect_report, pytest_runtest_makereport  # noqa: F401

# Tiny models run faster on one thread, and the suite shares 2 cores with itself.
torch.set_num_threads(1)

try:
    from transformers.utils import logging as _hf_logging

    _hf_logging.disable_progress_bar()
except ImportError:
    pass


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A tiny random native model folder, built once per test session."""
    from clapldm.debug import tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_pipeline(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model_dir):  # type: ignore[no-untyped-def]
    from clapldm import AudioLDM

    return AudioLDM.from_pretrained(tiny_model_dir)
