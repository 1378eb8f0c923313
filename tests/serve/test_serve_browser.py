"""The web page in a real browser: headless Debian Chromium driven by Playwright.

Never downloads a browser: it needs /usr/bin/chromium (`apt-get install chromium`) and the
python `playwright` package, and skips with the reason when either is missing. With
CLAPLDM_SCREENSHOT=path set, it saves a screenshot of the page after generation there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import wav_bytes

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLAYER_READY = "(() => { const a = document.getElementById('player'); return a.readyState >= 1 && a.duration > 0; })()"


@pytest.fixture
def browser_page() -> Any:
    if not CHROMIUM.exists():
        pytest.skip(
            f"needs Debian chromium at {CHROMIUM} (apt-get install chromium); no browser is downloaded"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs the python playwright package (pip install playwright)"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        try:
            # bypass_csp: Playwright evaluates its wait expressions as strings, which the page CSP forbids
            page = browser.new_page(viewport={"width": 960, "height": 1000}, bypass_csp=True)
            page.set_default_timeout(30_000)
            page.js_errors = []  # type: ignore[attr-defined]
            page.on("pageerror", lambda error: page.js_errors.append(str(error)))  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def test_page_generates_and_edits(
    live_server: Any, browser_page: Any, gate: Any, tmp_path: Path
) -> None:
    page = browser_page
    with live_server() as server:
        page.goto(server.url + "/")
        page.wait_for_function("document.getElementById('sampler').options.length > 0")
        assert "tiny-random" in page.text_content("#model-name")
        assert page.is_hidden("#audio-file")  # generate mode: no upload

        page.fill("#prompt", "a dog barking in the rain")
        page.fill("#duration", "1")
        page.fill("#steps", "3")
        page.click("#random-seed")
        seed = page.input_value("#seed")
        assert seed.isdigit()
        page.click("#generate")

        # progress while it runs (the gate holds the job at its first step)
        assert gate.started.wait(20), "the job never started"
        page.wait_for_selector("#progress", state="visible")
        page.wait_for_function(
            "document.getElementById('status-text').textContent.includes('seed')"
        )
        assert page.is_disabled("#generate") and page.is_enabled("#cancel")
        gate.release()

        page.wait_for_function("document.getElementById('used-seed').textContent !== ''")
        assert page.text_content("#used-seed") == seed
        page.wait_for_function(PLAYER_READY)
        audio = page.evaluate(
            """async () => {
                const player = document.getElementById('player');
                const response = await fetch(player.currentSrc);
                const body = await response.arrayBuffer();
                return {src: player.currentSrc, duration: player.duration, bytes: body.byteLength,
                        type: response.headers.get('content-type'), error: player.error && player.error.code};
            }"""
        )
        assert audio["src"].endswith("/audio") and audio["error"] is None
        assert audio["bytes"] > 1000 and audio["type"] == "audio/wav"
        assert abs(audio["duration"] - 1.0) < 0.05
        page.wait_for_function("document.getElementById('spectrogram').naturalWidth > 0")
        assert page.get_attribute("#download", "href").endswith("/audio?download=1")
        shot = os.environ.get("CLAPLDM_SCREENSHOT")
        if shot:
            page.screenshot(path=shot, full_page=True)

        # an edit mode: upload, a bad region is explained, a good one runs
        page.click("button[data-mode=inpaint]")
        assert (
            page.is_visible("#audio-file")
            and page.is_visible("#regions")
            and page.is_hidden("#duration")
        )
        page.set_input_files(
            "#audio-file",
            files=[{"name": "clip.wav", "mimeType": "audio/wav", "buffer": wav_bytes(1.0)}],
        )
        page.fill("#regions", "0.8:0.2")
        page.click("#generate")
        page.wait_for_selector("#error", state="visible")
        assert "reversed" in page.text_content("#error")
        page.fill("#regions", "0.2:0.6")
        page.click("#reuse-seed")
        page.click("#generate")
        page.wait_for_function(
            "document.getElementById('status-text').textContent.startsWith('done')"
        )
        assert page.is_hidden("#error")
        page.wait_for_function(PLAYER_READY)
        assert page.text_content("#used-seed") == seed
        assert page.js_errors == []


def test_page_extends_and_generates_from_an_audio_prompt(
    live_server: Any, browser_page: Any
) -> None:
    page = browser_page
    with live_server() as server:
        page.goto(server.url + "/")
        page.wait_for_function("document.getElementById('sampler').options.length > 0")
        clip = [{"name": "clip.wav", "mimeType": "audio/wav", "buffer": wav_bytes(0.5)}]

        page.click("button[data-mode=extend]")
        assert page.text_content("#generate") == "Extend"
        assert page.is_visible("#audio-file") and page.is_visible("#total-duration")
        assert page.is_hidden("#duration") and page.is_hidden("#audio-weight")
        page.set_input_files("#audio-file", files=clip)
        page.fill("#prompt", "the tone goes on")
        page.fill("#steps", "2")
        page.fill("#total-duration", "0.3")  # shorter than the input: explained
        page.click("#generate")
        page.wait_for_selector("#error", state="visible")
        assert "must exceed" in page.text_content("#error")
        page.fill("#total-duration", "1.2")
        page.fill("#overlap", "0.25")
        page.click("#generate")
        page.wait_for_function(
            "document.getElementById('status-text').textContent.startsWith('done')"
        )
        assert page.is_hidden("#error")
        page.wait_for_function(PLAYER_READY)
        assert abs(page.evaluate("document.getElementById('player').duration") - 1.2) < 0.05

        page.click("button[data-mode=audio-prompt]")
        assert page.text_content("#audio-label") == "Audio prompt"
        assert page.is_visible("#audio-weight") and page.is_visible("#duration")
        assert page.is_hidden("#total-duration")
        page.set_input_files("#audio-file", files=clip)
        page.fill("#prompt", "")  # the clip alone is enough
        page.fill("#duration", "0.7")
        page.fill("#audio-weight", "0.8")
        assert page.text_content("#audio-weight-value") == "0.80"
        page.click("#generate")
        page.wait_for_function(
            "document.getElementById('status-text').textContent.startsWith('done')"
        )
        assert page.is_hidden("#error")
        page.wait_for_function(PLAYER_READY)
        assert abs(page.evaluate("document.getElementById('player').duration") - 0.7) < 0.05
        assert page.js_errors == []
