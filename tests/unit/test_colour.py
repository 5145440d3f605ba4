"""Colour: a profile that is sRGB in all but name costs no transform; any other is applied."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips
from helpers import decode

from app.image.colour import is_srgb
from app.image.imaging import SizeSpec
from bench import icc


def ramp() -> pyvips.Image:
    """Saturated and grey ramps, 256 levels wide: where profiles differ most."""
    x = pyvips.Image.xyz(256, 16)[0]
    zero = x * 0
    rows = [
        x.bandjoin([zero, zero]),
        zero.bandjoin([x, zero]),
        zero.bandjoin([zero, x]),
        x.bandjoin([x, x]),
        x.bandjoin([255 - x, x // 2]),
    ]
    picture = rows[0]
    for row in rows[1:]:
        picture = picture.join(row, "vertical")
    return picture.cast("uchar").copy(interpretation="srgb")


def with_profile(profile: bytes | None) -> bytes:
    picture = ramp().copy()
    if profile is not None:
        picture.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return picture.jpegsave_buffer(Q=95, subsample_mode="off")


def count_transforms(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every colour transform libvips is asked for (each still runs)."""
    calls: list[object] = []
    real = pyvips.Image.icc_transform

    def counted(self: pyvips.Image, *args: object, **kwargs: object) -> pyvips.Image:
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "icc_transform", counted)
    return calls


def max_difference(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().max())


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: icc.builtin("srgb"), True),
        (icc.srgb_as_table, True),  # the same curve as a 1024-entry table
        (lambda: icc.builtin("p3"), False),  # sRGB's curve, wider primaries
        (icc.adobe_rgb, False),
        (icc.srgb_d65, False),  # called sRGB, but lcms reads its colorants as D50
        (lambda: icc.builtin("cmyk"), False),
    ],
    ids=["srgb", "srgb-table", "display-p3", "adobe-rgb", "srgb-d65-colorants", "cmyk"],
)
def test_srgb_is_decided_from_the_profiles_content(make, expected: bool) -> None:
    assert is_srgb(make()) is expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gain-map.jpg", True),  # Google's "sRGB Gamut with sRGB Transfer"
        ("p3.png", False),
        ("prophoto.png", False),
        ("concert.jpg", False),  # a grey profile
    ],
)
def test_srgb_is_decided_on_real_profiles(corpus: Path, name: str, expected: bool) -> None:
    image = pyvips.Image.new_from_file(str(corpus / "fixtures" / name))

    assert is_srgb(image.get("icc-profile-data")) is expected


@pytest.mark.parametrize(
    "make", [lambda: icc.builtin("srgb"), icc.srgb_as_table], ids=["srgb", "srgb-table"]
)
def test_an_srgb_profile_costs_no_transform_and_changes_no_pixel(make, monkeypatch) -> None:
    data = with_profile(make())
    spec = (SizeSpec(256),)  # the source's own size: no resize, the decode as it is
    transforms = count_transforms(monkeypatch)

    decoded = decode(data, spec)
    assert transforms == []
    monkeypatch.undo()
    transformed = pyvips.Image.new_from_buffer(data, "").icc_transform("srgb", embedded=True)

    # The very pixels of the same JPEG with no profile ...
    assert max_difference(decoded, decode(with_profile(None), spec)) == 0
    # ... and a transform would have given the same, within a level.
    assert max_difference(decoded, transformed) <= 1


@pytest.mark.parametrize(
    "make", [lambda: icc.builtin("p3"), icc.adobe_rgb], ids=["display-p3", "adobe-rgb"]
)
def test_other_profiles_are_still_converted_to_srgb(make, monkeypatch) -> None:
    data = with_profile(make())
    spec = (SizeSpec(256),)
    transforms = count_transforms(monkeypatch)

    decoded = decode(data, spec)
    assert len(transforms) == 1
    monkeypatch.undo()
    transformed = pyvips.Image.new_from_buffer(data, "").icc_transform("srgb", embedded=True)

    assert max_difference(decoded, transformed) <= 1
    assert max_difference(decoded, decode(with_profile(None), spec)) > 10


def test_a_16_bit_png_with_an_srgb_profile_is_only_made_8_bit(monkeypatch) -> None:
    x = pyvips.Image.xyz(256, 64)[0] * 257
    picture = x.bandjoin([65535 - x, x // 2]).cast("ushort").copy(interpretation="rgb16")
    picture.set_type(pyvips.GValue.blob_type, "icc-profile-data", icc.srgb_as_table())
    data = picture.pngsave_buffer()
    transforms = count_transforms(monkeypatch)

    decoded = decode(data, (SizeSpec(256),))
    assert transforms == []
    monkeypatch.undo()
    transformed = pyvips.Image.new_from_buffer(data, "").icc_transform(
        "srgb", embedded=True, depth=8
    )

    assert (decoded.format, decoded.interpretation) == ("uchar", "srgb")
    assert max_difference(decoded, transformed) <= 1


def test_the_answers_are_kept_by_digest_not_by_profile() -> None:
    # A LUT profile can be megabytes: 40 of them must not stay in memory for the answers.
    from app.image import colour

    profiles = [icc.builtin("srgb") + bytes(1_000_000 + n) for n in range(40)]
    for profile in profiles:
        colour.is_srgb(profile)

    assert len(colour._SEEN) <= 32
    assert {len(key) for key in colour._SEEN} == {32}  # sha-256 digests
    assert is_srgb(icc.builtin("srgb")) is True  # and the answer for a profile is unchanged
