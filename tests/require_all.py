"""CLAPLDM_REQUIRE_ALL=1 (set by `.ci/run`): a skipped test is a failed test.

Tests skip, with the reason, when a tool they need is missing (chromium, fluidsynth,
espeak-ng, diffusers, ...). Locally that is convenient; in CI it would hide a broken
install, so there every skip - at collection or in a test - is reported as a failure
naming what was missing. `tests/conftest.py` registers these hooks.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ENV = "CLAPLDM_REQUIRE_ALL"


def required() -> bool:
    return os.environ.get(ENV, "") not in ("", "0")


def _fail_skip(report: Any) -> None:
    if not (required() and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"{ENV}=1 turns skips into failures; this one was skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator:
    outcome = yield
    _fail_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator:
    outcome = yield
    _fail_skip(outcome.get_result())
