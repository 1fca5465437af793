"""Regenerate the screenshots in this folder from ``inoplan serve --demo`` (Debian's chromium).

Usage (from the repository root)::

    .venv/bin/python docs/screenshots/make_screenshots.py

Starts the service with demo data in a temporary directory on a free port, logs in as the demo
``admin`` and saves: ``login.png``, ``today.png``, ``course-hold.png`` (the demo course on hold
for liver tests), ``course-give.png`` (an adult in cycle 1) and ``course-print.png`` (the same
page as printed). The demo dates are relative to the day it runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "demo-screenshots-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tempfile.mkdtemp(prefix="inoplan-shots-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DEMO_PASSWORD"] = PASSWORD
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("inoplan")), "serve", "--demo", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the demo server did not start") from None
                time.sleep(0.3)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url + "/login")
            page.screenshot(path=str(HERE / "login.png"))
            page.fill("#username", "admin")
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            page.wait_for_url(url + "/")
            page.screenshot(path=str(HERE / "today.png"), full_page=True)
            for name, patient in (("course-hold", "DEMO-0004"), ("course-give", "DEMO-0001")):
                page.goto(url + "/")
                page.get_by_role("link", name=patient).click()
                page.wait_for_load_state("load")  # images included: the exposure plot
                page.screenshot(path=str(HERE / f"{name}.png"), full_page=True)
            page.emulate_media(media="print")
            page.screenshot(path=str(HERE / "course-print.png"), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    sys.stdout.write("saved: " + ", ".join(sorted(p.name for p in HERE.glob("*.png"))) + "\n")


if __name__ == "__main__":
    main()
