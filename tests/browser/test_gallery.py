"""The local stack's gallery in a real headless browser (Debian's chromium): an upload's
copies on screen, its ThumbHash placeholder decoded by the page, and the `srcset`
candidate the browser picks at two window widths. Skipped, saying why, without chromium."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import boto3
import pytest
import pyvips
from helpers import decode_thumbhash
from localstack import Stack, running_stack, wait_for

from devtools.s3server import FAKE_AWS_ENV

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BUCKET = "image-resizer-local"
KEY = "images/gallery/halves.png"
RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` runs the gallery test")
    return CHROMIUM


def halves() -> bytes:
    """A 1500x1000 PNG: its left half red, its right half blue."""
    left = pyvips.Image.black(750, 1000).new_from_image(list(RED))
    right = pyvips.Image.black(750, 1000).new_from_image(list(BLUE))
    image = left.join(right, "horizontal").cast("uchar").copy(interpretation="srgb")
    return bytes(image.pngsave_buffer())


@pytest.fixture(scope="module")
def stack() -> Any:
    with running_stack() as running:
        running.ready()
        s3 = _s3(running)
        s3.put_object(Bucket=BUCKET, Key=KEY, Body=halves())  # the queue delivers it
        wait_for(lambda: _exists(s3, "copy/gallery/halves.json"), 60, "the upload's manifest")
        yield running


def _s3(stack: Stack) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=stack.s3,
        region_name="us-east-1",
        aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _exists(s3: Any, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=BUCKET, Prefix=key).get("KeyCount"))


def browse(chromium: str, url: str, width: int, tmp: Path, *output: str) -> str:
    """Load `url` in a fresh headless chromium with a `width`x1000 window, once every
    image has loaded; `output` is --dump-dom or --screenshot=FILE."""
    done = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--window-size={width},1000",
            "--virtual-time-budget=15000",  # waits for every fetch, then the load event
            f"--user-data-dir={tmp / 'profile'}",  # no cache shared between runs
            "--no-first-run",
            "--disable-background-networking",  # nothing fetched but the page's own
            "--disable-component-update",
            *output,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Elements(HTMLParser):
    """The attributes of the first `img.copy` and `canvas.placeholder` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        name = f"{tag}.{values.get('class', '')}"
        if name in ("img.copy", "canvas.placeholder") and name not in self.found:
            self.found[name] = values


def elements(page: str) -> dict[str, dict[str, str]]:
    parser = Elements()
    parser.feed(page)
    return parser.found


def test_the_page_lists_the_copies_as_s3_holds_them_and_fetches_only_from_itself(
    stack: Stack,
) -> None:
    with urllib.request.urlopen(stack.gallery, timeout=30) as response:
        page = response.read().decode()

    first = re.search(r'<section data-key="([^"]+)"', page)
    assert first is not None and html.unescape(first[1]) == KEY  # the newest upload first
    s3 = _s3(stack)
    for width, height in ((300, 200), (600, 400), (900, 600)):
        key = f"copy/gallery/halves-{width}.png"
        head = s3.head_object(Bucket=BUCKET, Key=key)
        assert (
            f"<td>png</td><td>{width}&times;{height}</td><td>{head['ContentLength']:,}</td>"
            f"<td>{head['ContentType']}</td>"
        ) in page
    urls = re.findall(r'(?:src|href|srcset)="([^"]*)"', page)
    assert urls and all(u.startswith("/s3/") for u in urls), urls
    assert "http" not in " ".join(re.findall(r"<script[^>]*>(.*?)</script>", page, re.S))


@pytest.mark.parametrize(("width", "picked"), [(500, 600), (1400, 900)])
def test_the_browser_picks_the_srcset_candidate_for_its_width(
    chromium: str, stack: Stack, tmp_path: Path, width: int, picked: int
) -> None:
    # sizes: (max-width: 932px) calc(100vw - 32px), 900px. At 500 the slot is 468 px: the
    # 600w copy (300w is too small); at 1400 it is 900 px: the 900w copy.
    dom = browse(chromium, stack.gallery, width, tmp_path, "--dump-dom")

    img = elements(dom)["img.copy"]
    assert img["alt"] == KEY
    assert img["data-current-src"] == f"{stack.gallery}s3/{BUCKET}/copy/gallery/halves-{picked}.png"
    assert f"The copy this browser picked: <span>halves-{picked}.png</span>" in dom


def test_the_screenshot_shows_the_copy_and_the_decoded_placeholder(
    chromium: str, stack: Stack, tmp_path: Path
) -> None:
    found = elements(browse(chromium, stack.gallery, 1400, tmp_path, "--dump-dom"))
    shot = tmp_path / "gallery.png"
    browse(chromium, stack.gallery, 1400, tmp_path, f"--screenshot={shot}")
    screen = pyvips.Image.new_from_file(str(shot)).extract_band(0, n=3)
    manifest = _s3(stack).get_object(Bucket=BUCKET, Key="copy/gallery/halves.json")["Body"]
    thumbhash = base64.b64decode(json.loads(manifest.read())["thumbhash"])

    # The copy: red on its left, blue on its right, as uploaded.
    x, y, w, h = map(int, found["img.copy"]["data-box"].split(","))
    assert (w, h) == (900, 600)
    assert y + h <= screen.height
    assert _mean(screen, x + 20, y + 20, w // 2 - 40, h - 40) == pytest.approx(RED, abs=8)
    assert _mean(screen, x + w // 2 + 20, y + 20, w // 2 - 40, h - 40) == pytest.approx(BLUE, abs=8)

    # The placeholder, decoded by the page's script: the average colour the reference
    # decoder gives (tests/helpers.py), red to the left and blue to the right.
    x, y, w, h = map(int, found["canvas.placeholder"]["data-box"].split(","))
    assert (w, h) == (160, round(160 * 1000 / 1500))
    _, average, _ = decode_thumbhash(thumbhash)
    mean = _mean(screen, x, y, w, h)
    assert mean == pytest.approx([255 * c for c in average], abs=20)
    left, right = _mean(screen, x, y, w // 4, h), _mean(screen, x + w - w // 4, y, w // 4, h)
    assert left[0] > right[0] + 60 and right[2] > left[2] + 60, (left, right)


def _mean(image: pyvips.Image, x: int, y: int, w: int, h: int) -> list[float]:
    """The mean of each band of a region of `image`."""
    region = image.crop(x, y, w, h)
    return [region.extract_band(b).avg() for b in range(region.bands)]
