"""A headless Chromium for the report tests: find it, and measure a page as it lays it out.

The report itself carries no script; :func:`measure` renders a copy of it with one added
script that writes what the browser computed (the content width, the width of every table
and preformatted block, the visible text) into the page, and reads it back from the DOM.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")

_MEASURE = """<script>
window.addEventListener("load", () => {
  const page = document.body.clientWidth - 2 * parseFloat(getComputedStyle(document.body).paddingLeft);
  const widths = [...document.querySelectorAll("table, pre")].map(
    e => Math.max(e.scrollWidth, e.getBoundingClientRect().width));
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({page: page, widths: widths, text: document.body.innerText,
                                    images: [...document.images].filter(i => i.complete && i.naturalWidth > 0).length});
  document.body.appendChild(out);
});
</script>"""


def browser():
    """The path of a Chromium-like browser, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def command(profile: Path) -> list[str]:
    """Chromium, headless, with the flags a closed sandbox needs and a fresh profile."""
    return [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def measure(page: Path, tmp: Path, width: int = 1100) -> dict:
    """``{page, widths, text, images}`` of ``page`` laid out in a ``width``-pixel window: the
    content width, the width of each table and pre block, the visible text, the images shown."""
    probe = tmp / "probe.html"
    probe.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    done = subprocess.run(command(tmp / "profile") + [f"--window-size={width},3000", "--virtual-time-budget=5000",
                                                        "--dump-dom", probe.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="measured">(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise AssertionError(f"the page was not measured: {done.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))
