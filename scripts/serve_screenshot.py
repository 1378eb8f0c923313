"""The README's screenshot of the web page: `clapldm serve` on a model, one clip generated in
headless Chromium, the page saved as a PNG.

    python scripts/serve_screenshot.py docs/serve.png [--model FOLDER] [--prompt TEXT]

Needs /usr/bin/chromium (Debian's; no browser is downloaded) and the python playwright
package. The server runs on a free loopback port with a temporary output folder; the
page's seed, score and player are those of the clip it really made.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
DONE = "document.getElementById('status-text').textContent.startsWith('done')"
PLAYER_READY = "document.getElementById('player').duration > 0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, server: subprocess.Popen[bytes], timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"clapldm serve exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                return dict(json.load(answer))
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not answer /health within {timeout:g} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="PNG to write")
    parser.add_argument("--model", help="model folder (default: the bundled model)")
    parser.add_argument("--prompt", default="a dog barking in a park, birds singing")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the clip")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as outputs:
        command = ["clapldm", "serve", "--port", str(port), "--output-dir", outputs]
        command += ["--model", args.model] if args.model else []
        server = subprocess.Popen(command, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        try:
            health = wait_healthy(url, server, 120.0)
            print(f"serving {health['model']} at {url}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM,
                    headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
                )
                page = browser.new_page(viewport={"width": 960, "height": 1000}, bypass_csp=True)
                page.goto(url + "/")
                page.wait_for_function("document.getElementById('sampler').options.length > 0")
                page.fill("#prompt", args.prompt)
                page.fill("#duration", f"{args.duration:g}")
                page.fill("#seed", str(args.seed))
                page.click("#generate")
                page.wait_for_function(DONE, timeout=args.timeout * 1000)
                page.wait_for_function(PLAYER_READY)
                page.wait_for_function("document.getElementById('spectrogram').naturalWidth > 0")
                args.output.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.output), full_page=True)
                print(
                    f"{args.output}: {page.text_content('#model-name')}; "
                    f"seed {page.text_content('#used-seed')}; {page.text_content('#score')}"
                )
                browser.close()
        finally:
            server.terminate()
            server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
