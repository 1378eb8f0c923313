#!/usr/bin/env bash
# The test command the README documents: the whole suite, offline, on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
# -rs: list every skipped test with its reason (CLAPLDM_REQUIRE_ALL=1 makes skips fail).
# (-q comes from pyproject addopts; a second -q would hide the "N passed" summary line)
exec python -m pytest -rs -p no:cacheprovider "$@"
