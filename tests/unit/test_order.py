"""Sequencers order the events of one key; a copy records its event's."""

from __future__ import annotations

import pytest

from app import naming
from app.aws.objects import Head
from app.errors import Skip
from app.model import ObjectRef
from app.renditions import order


@pytest.mark.parametrize(
    ("a", "b", "later"),
    [
        ("0065F1A2B3C4D5E6F8", "0065F1A2B3C4D5E6F7", True),
        ("0065F1A2B3C4D5E6F7", "0065F1A2B3C4D5E6F7", False),
        # AWS: compare after left-padding the shorter with zeros.
        ("65F1A2B3C4D5E6F8", "0065F1A2B3C4D5E6F7", True),
        ("0A", "9", True),
        ("9", "0A", False),
        ("617f08299329d18a", "617F08299329D189", True),  # case does not matter
    ],
)
def test_later_compares_left_padded_hex(a: str, b: str, later: bool) -> None:
    assert order.later(a, b) is later


def copy_of(key: str, sequencer: str | None) -> dict[str, str]:
    return naming.rendition_metadata(key, "etag", "jpeg", None, sequencer)


def test_only_a_copy_of_the_same_source_with_a_later_sequencer_makes_an_event_stale() -> None:
    ref = ObjectRef("b", "images/cat.jpg", sequencer="0000000000000020")

    assert order.stale_reason(ref, "b", "copy/cat-300.jpg", copy_of(ref.key, "10")) is None
    assert order.stale_reason(ref, "b", "copy/cat-300.jpg", copy_of(ref.key, None)) is None
    assert order.stale_reason(ref, "b", "copy/cat-300.jpg", None) is None
    # Sequencers of other keys are not comparable: a colliding copy of cat.png is no reason.
    other = copy_of("images/cat.png", "FFFFFFFFFFFFFFFFFF")
    assert order.stale_reason(ref, "b", "copy/cat-300.jpg", other) is None
    # Without a sequencer (Batch Operations) nothing is stale by order.
    batch = ObjectRef("b", "images/cat.jpg")
    assert order.stale_reason(batch, "b", "k", copy_of(ref.key, "FF")) is None

    with pytest.raises(Skip) as skip:
        order.check_not_stale(ref, "b", {"copy/cat-300.jpg": copy_of(ref.key, "30")})
    assert str(skip.value) == (
        "stale event: s3://b/copy/cat-300.jpg was made for a later event of s3://b/images/cat.jpg "
        "(sequencer 30 > 0000000000000020); left as it is"
    )


def test_a_version_that_is_no_longer_current_is_skipped() -> None:
    ref = ObjectRef("b", "images/cat.jpg", version="v1")
    order.check_current(ref, Head(1, "e", "image/jpeg", {}, "v1"))
    order.check_current(ObjectRef("b", "images/cat.jpg"), Head(1, "e", "image/jpeg", {}, "v2"))

    with pytest.raises(Skip) as skip:
        order.check_current(ref, Head(1, "e", "image/jpeg", {}, "v2"))
    assert str(skip.value) == (
        "version v1 of s3://b/images/cat.jpg is no longer the current version (v2 is): "
        "the copies follow the current version"
    )
