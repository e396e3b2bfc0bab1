"""Headless Chromium as the tests use it: measure a rendered report's layout, take screenshots.

Owns how a test finds the browser (Debian's `chromium`, installed by `.ci/setup`; a missing one
skips on a developer's machine and FAILS under CI=true), the flags a root user on a closed network
needs, and the measuring: the page is loaded into a frame of the exact width, and a small script
writes what it measured (the page's width, the right edge of the widest element, where given texts
first appear) as JSON into the DOM, which `--dump-dom` prints once the page has loaded.
Screenshots use the same flags and a fresh profile each time. It must not judge what it measures
(the tests do).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from html import escape, unescape
from pathlib import Path
from typing import Any

from tests.support.servers import unavailable

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--disable-extensions", "--mute-audio",
)  # fmt: skip
_STYLE = re.compile(r"<style\b[^>]*>.*?</style\s*>", re.IGNORECASE | re.DOTALL)
_RESULT = re.compile(r'<pre id="revwatch-measure">(.*?)</pre>', re.DOTALL)
# The page is measured inside an <iframe> exactly `width` CSS px wide (headless Chromium will not
# make its own window narrower than 500 px); this script, in the wrapper, runs once the frame has
# loaded. Everything is in CSS pixels from the top of the report's document.
_WRAPPER = """<!DOCTYPE html>
<html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="report" scrolling="no"
 style="border:0;display:block;width:%(width)dpx;height:%(height)dpx" srcdoc="%(page)s"></iframe>
<script>
document.getElementById("report").addEventListener("load", function () {
  var win = this.contentWindow, doc = this.contentDocument;
  var needles = %(needles)s;
  var widest = 0;
  var all = doc.body.getElementsByTagName("*");
  for (var i = 0; i < all.length; i++) {
    var rects = all[i].getClientRects();
    for (var j = 0; j < rects.length; j++) {
      if (rects[j].width > 0) { widest = Math.max(widest, rects[j].right); }
    }
  }
  function firstSeen(needle) {
    var walker = doc.createTreeWalker(doc.body, NodeFilter.SHOW_TEXT);
    for (var node = walker.nextNode(); node; node = walker.nextNode()) {
      var at = node.data.indexOf(needle);
      if (at < 0) { continue; }
      var range = doc.createRange();
      range.setStart(node, at);
      range.setEnd(node, at + needle.length);
      var rects = range.getClientRects();
      if (rects.length && rects[0].width > 0) {
        return {top: rects[0].top, bottom: rects[rects.length - 1].bottom};
      }
    }
    return null;
  }
  var found = {};
  needles.forEach(function (needle) { found[needle] = firstSeen(needle); });
  var out = document.createElement("pre");
  out.id = "revwatch-measure";
  out.textContent = JSON.stringify({
    viewport: win.innerWidth,
    scroll_width: doc.documentElement.scrollWidth,
    widest_right: widest,
    height: doc.body.scrollHeight,
    styles: doc.getElementsByTagName("style").length,
    found: found
  });
  document.body.appendChild(out);
});
</script>
</body></html>
"""


def chromium() -> Path:
    """The browser; skips the test (fails it under CI=true) when it is not installed."""
    found = CHROMIUM if CHROMIUM.is_file() else None
    found = found or (Path(p) if (p := shutil.which("chromium")) else None)
    if found is None:
        unavailable(
            "Chromium (/usr/bin/chromium)",
            FileNotFoundError("not installed; .ci/setup installs Debian's chromium"),
        )
    assert found is not None
    return found


def without_styles(html: str) -> str:
    """The page as a mail client that strips every <style> element shows it."""
    return _STYLE.sub("", html)


def _run(page: Path, width: int, height: int, *extra: str) -> str:
    with tempfile.TemporaryDirectory(prefix="revwatch-chromium-") as profile:
        done = subprocess.run(
            [str(chromium()), *FLAGS, f"--user-data-dir={profile}",
             f"--window-size={width},{height}", *extra, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, env={**os.environ, "LANG": "C.UTF-8"},
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def measure(html: str, width: int, needles: list[str], scratch: Path) -> dict[str, Any]:
    """Load `html` at `width` CSS px and return what the wrapper's script measured: viewport,
    scroll_width, widest_right (the right edge of the widest element box), height, styles (how
    many <style> elements) and found ({needle: {top, bottom} or None})."""
    page = scratch / f"measure-{width}.html"
    frame_height = 20000  # taller than any report measured here: the frame never scrolls
    page.write_text(
        _WRAPPER % {"width": width, "height": frame_height, "page": escape(html, quote=True),
                    "needles": json.dumps(needles)},
        encoding="utf-8",
    )  # fmt: skip
    dom = _run(page, max(width, 500), 900, "--dump-dom", "--virtual-time-budget=5000")
    match = _RESULT.search(dom)
    if match is None:
        raise RuntimeError(f"no measurement in the dumped DOM: {dom[-1000:]}")
    result: dict[str, Any] = json.loads(unescape(match.group(1)))
    return result


def screenshot(html: str, width: int, height: int, target: Path) -> Path:
    """A PNG of the page's first `height` px at `width` CSS px."""
    page = target.with_suffix(".html")
    page.write_text(html, encoding="utf-8")
    _run(page, width, height, f"--screenshot={target}")
    if not target.is_file():
        raise RuntimeError(f"chromium wrote no screenshot at {target}")
    return target
