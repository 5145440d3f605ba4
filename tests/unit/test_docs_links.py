"""The README is a front page linking every docs page, and every relative link resolves.

A link to a file must name one that exists; a `#anchor` must be a heading's anchor as
GitHub writes it (lower case, punctuation dropped, spaces as hyphens, `-1`, `-2` for
repeats), so moving text between pages cannot leave a link pointing nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# [text](target): the target up to its closing parenthesis, without spaces or a title.
LINK = re.compile(r"\[(?:[^\]\\]|\\.)*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
# Longer than this, a page opens with a table of contents.
LONG_PAGE = 150


def prose(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it (before the suffix for repeats)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path.read_text()):
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        base = slug(heading.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    """The targets of a page's Markdown links in its prose (a link's text may wrap)."""
    return LINK.findall("\n".join(prose(path.read_text())))


def relative(target: str) -> bool:
    """Whether a link stays in the repository (not a URL with a scheme)."""
    return re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I) is None


def test_the_slugs_are_githubs() -> None:
    assert slug("What copies keep: wide colour, HDR and rights") == (
        "what-copies-keep-wide-colour-hdr-and-rights"
    )
    assert (
        slug("The manifest: `srcset` and a placeholder") == "the-manifest-srcset-and-a-placeholder"
    )
    assert slug("What happens when...") == "what-happens-when"
    assert slug("The manifest's cost") == "the-manifests-cost"
    assert slug("Quick start (no AWS account, no Docker)") == "quick-start-no-aws-account-no-docker"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in filter(relative, links(page)):
        name, _, anchor = target.partition("#")
        file = (page.parent / unquote(name)).resolve() if name else page
        if not file.exists():
            broken.append(f"{target}: no file {file.relative_to(ROOT)}")
        elif anchor and unquote(anchor) not in anchors(file):
            broken.append(f"{target}: no heading of {file.relative_to(ROOT)} has that anchor")

    assert broken == []


def test_the_readme_is_a_front_page_that_links_every_docs_page() -> None:
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.partition("#")[0]).resolve()
        for target in filter(relative, links(readme))
    }

    assert len(readme.read_text().splitlines()) <= 300
    assert len(PAGES) - 1 >= 4
    assert [page for page in PAGES[1:] if page not in linked] == []


LONG_PAGES = [page for page in PAGES[1:] if len(page.read_text().splitlines()) > LONG_PAGE]


@pytest.mark.parametrize("page", LONG_PAGES, ids=lambda page: page.name)
def test_a_long_page_opens_with_a_table_of_its_sections(page: Path) -> None:
    text = page.read_text()
    sections = {slug(line[3:]) for line in prose(text) if line.startswith("## ")}
    opening = text.split("\n## ", 1)[0]
    listed = {target[1:] for target in LINK.findall(opening) if target.startswith("#")}

    assert sections - listed == set()
