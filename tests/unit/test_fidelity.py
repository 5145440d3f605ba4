"""Copies keep what the photographer made: wide-gamut colours, an HDR gain map, the rights.

Every source is made here with pyvips (a Display P3 photo, an Ultra HDR JPEG, a JPEG
with creator, copyright, GPS and a serial number in EXIF, XMP and IPTC) and run
through the function's own pipeline on local files (the store behind `python -m app
resize`). Colour differences are CIE76 (the distance in CIE Lab, through each file's
own profile), by which the issue's P3 green clipped to sRGB is about 20 off.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import images
import pytest
import pyvips
from fidelity_images import ARTIST, COPYRIGHT, XMP, ultra_hdr, with_rights

from app.config import settings as config
from app.errors import ConfigError
from app.image import colour, imaging, rights
from app.localfiles import LocalStore
from app.model import ObjectRef, Outcome
from app.renditions import pipeline, recipe
from bench import icc

# Display P3 numbers: its primaries and secondaries (all outside sRGB), then a green
# of a photo's foliage and a grey (inside).
P3_PATCHES = [
    (0, 255, 0),
    (255, 0, 0),
    (0, 0, 255),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 0),
    (40, 200, 90),
    (128, 128, 128),
]
OUTSIDE_SRGB = 6  # the first six
PATCH = 100
FORMATS = ("jpeg", "webp", "avif", "png")
EXTENSION = {"jpeg": "jpg", "webp": "webp", "avif": "avif", "png": "png"}


def process(tmp_path: Path, name: str, data: bytes, **env: str) -> tuple[Outcome, Path]:
    """Process one file named `name` as the function would; return its outcome and --out."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_bytes(data)
    settings = config.load({"OUTPUT_FORMATS": ",".join(FORMATS), **env})
    out = tmp_path / "out"
    store = LocalStore({settings.source_prefix + name: path}, out, settings.output_prefix)
    ref = ObjectRef("", settings.source_prefix + name, label=str(path))
    outcome = pipeline.process(ref, settings, store)
    assert outcome.status == "processed", outcome.reason
    return outcome, out


def patches(profile: bytes, values: list[tuple[int, int, int]] = P3_PATCHES) -> bytes:
    """A JPEG of `values` side by side, 100 pixels square each, in `profile`'s numbers."""
    row = pyvips.Image.arrayjoin(
        [pyvips.Image.black(PATCH, PATCH).new_from_image(list(v)).cast("uchar") for v in values]
    ).copy(interpretation="srgb")
    row.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return bytes(row.jpegsave_buffer(Q=95, subsample_mode="off", keep="icc"))


def lab_means(image: pyvips.Image, count: int) -> list[tuple[float, float, float]]:
    """CIE Lab (through the image's own profile, sRGB if none) of the middle of each patch."""
    if image.get_typeof("icc-profile-data"):
        lab = image.icc_import(embedded=True, intent="relative")
    else:
        lab = image.icc_import(input_profile="srgb", intent="relative")
    step = image.width / count
    size = max(1, round(step * 0.4))
    means = []
    for i in range(count):
        middle = lab.crop(round(i * step + step * 0.3), round(step * 0.3), size, size)
        means.append((middle[0].avg(), middle[1].avg(), middle[2].avg()))
    return means


def differences(source: bytes, copy: Path, count: int = len(P3_PATCHES)) -> list[float]:
    """CIE76 between each patch of the source and of its copy."""
    before = lab_means(pyvips.Image.new_from_buffer(source, ""), count)
    after = lab_means(pyvips.Image.new_from_file(str(copy)), count)
    return [math.dist(a, b) for a, b in zip(before, after, strict=True)]


def manifest(out: Path, stem: str) -> dict[str, Any]:
    return json.loads((out / f"{stem}.json").read_text())


# --- colour ----------------------------------------------------------------------------


def test_a_display_p3_photos_copies_stay_within_5_of_it_where_it_is_outside_srgb(
    tmp_path: Path,
) -> None:
    data = patches(icc.builtin("p3"))
    _, out = process(tmp_path, "p3.jpg", data, RESIZE_WIDTHS="400")

    for fmt in FORMATS:
        copy = out / f"p3-400.{EXTENSION[fmt]}"
        found = differences(data, copy)
        assert max(found[:OUTSIDE_SRGB]) < 5, (fmt, found)
        assert max(found) < 5, (fmt, found)
        carried = pyvips.Image.new_from_file(str(copy)).get("icc-profile-data")
        assert colour.name(carried) == "Display P3"
    listed = {r["format"]: r["colourSpace"] for r in manifest(out, "p3")["renditions"]}
    assert listed == dict.fromkeys(FORMATS, "Display P3")


def test_colour_srgb_makes_every_copy_srgb_and_clips_what_srgb_cannot_show(
    tmp_path: Path,
) -> None:
    data = patches(icc.builtin("p3"))
    _, out = process(tmp_path, "p3.jpg", data, RESIZE_WIDTHS="400", COLOUR="srgb")

    for fmt in FORMATS:
        copy = out / f"p3-400.{EXTENSION[fmt]}"
        found = differences(data, copy)
        assert found[0] > 15, found  # P3's green, as the issue says: about 20 off
        assert found[-1] < 3, found  # the grey, inside sRGB, is as it was
        assert not pyvips.Image.new_from_file(str(copy)).get_typeof("icc-profile-data")
    listed = {r["colourSpace"] for r in manifest(out, "p3")["renditions"]}
    assert listed == {"sRGB"}


def test_an_adobe_rgb_photo_keeps_its_own_profile(tmp_path: Path) -> None:
    profile = icc.adobe_rgb()
    data = patches(profile)
    _, out = process(tmp_path, "adobe.jpg", data, RESIZE_WIDTHS="400")

    for fmt in FORMATS:
        copy = out / f"adobe-400.{EXTENSION[fmt]}"
        assert bytes(pyvips.Image.new_from_file(str(copy)).get("icc-profile-data")) == profile
        assert max(differences(data, copy)) < 5


def test_a_wide_profile_too_large_to_travel_gives_display_p3_copies(tmp_path: Path) -> None:
    # Adobe RGB's colorants with sRGB's curve as a 2048-entry table: a 12 KB profile.
    profile = icc.rewritten(
        icc.builtin("srgb"),
        colorants=icc.ADOBE_RGB_COLORANTS,
        trc=icc.table_curve(icc._srgb_decode, 2048),
    )
    assert len(profile) > colour.COMPACT_BYTES and colour.is_wide(profile)
    # Colours inside Display P3 (Adobe RGB reaches further in greens).
    values = [(200, 60, 60), (60, 160, 80), (60, 60, 200), (128, 128, 128)]
    data = patches(profile, values)
    _, out = process(tmp_path, "big.jpg", data, RESIZE_WIDTHS="400", OUTPUT_FORMATS="jpeg")

    copy = out / "big-400.jpg"
    assert colour.name(pyvips.Image.new_from_file(str(copy)).get("icc-profile-data")) == (
        "Display P3"
    )
    assert max(differences(data, copy, len(values))) < 5


@pytest.mark.parametrize(
    ("make", "wide"),
    [
        (lambda: icc.builtin("srgb"), False),
        (icc.srgb_as_table, False),
        (lambda: icc.builtin("p3"), True),
        (icc.adobe_rgb, True),
        (lambda: icc.builtin("cmyk"), False),  # not RGB: its copies are sRGB
        (lambda: b"not a profile", False),
    ],
    ids=["srgb", "srgb-table", "display-p3", "adobe-rgb", "cmyk", "garbage"],
)
def test_wide_is_decided_by_the_gamut_not_the_name(make, wide: bool) -> None:
    assert colour.is_wide(make()) is wide


def test_adobe_rgb_named_srgb_is_still_wide() -> None:
    profile = icc.adobe_rgb()
    assert colour.name(profile) == "sRGB"  # the name it inherits from libvips' sRGB
    assert colour.is_wide(profile)


def test_an_srgb_photo_costs_nothing_more_and_its_copies_are_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An sRGB JPEG (profile or none, no rights recorded): no gamut check, no profile, and
    exactly the bytes every setting's way of not keeping anything gives."""
    asked: list[bytes] = []
    real = colour.is_wide
    monkeypatch.setattr(colour, "is_wide", lambda p: asked.append(p) or real(p))
    for name, data in (
        ("plain.jpg", images.jpeg(800, 600)),
        ("tagged.jpg", patches(icc.builtin("srgb"), [(200, 30, 30), (30, 200, 30)])),
    ):
        _, kept = process(tmp_path / "keep", name, data, RESIZE_WIDTHS="300")
        _, plain = process(
            tmp_path / "srgb", name, data, RESIZE_WIDTHS="300", COLOUR="srgb", RIGHTS="none"
        )
        for fmt in FORMATS:
            copy = f"{name[:-4]}-300.{EXTENSION[fmt]}"
            assert (kept / copy).read_bytes() == (plain / copy).read_bytes(), copy
            fields = pyvips.Image.new_from_file(str(kept / copy)).get_fields()
            assert not [f for f in fields if f.startswith(("icc", "exif", "xmp", "iptc"))]
    assert asked == []


# --- HDR -------------------------------------------------------------------------------


def quarter_means(image: pyvips.Image) -> tuple[float, float]:
    """The mean of the top-left and of the bottom-right quarter."""
    w, h = image.width // 2, image.height // 2
    return image.crop(0, 0, w, h).avg(), image.crop(w, h, w, h).avg()


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_an_ultra_hdr_jpegs_jpeg_copies_are_ultra_hdr_with_the_gain_map_resized(
    tmp_path: Path, orientation: int
) -> None:
    data = ultra_hdr(orientation=orientation)
    source = pyvips.Image.new_from_buffer(data, "")
    assert source.get("vips-loader") == "uhdrload_buffer"
    _, out = process(tmp_path, "hdr.jpg", data, RESIZE_WIDTHS="400,120x120:cover", CROP="centre")

    for label, size in (("400", (400, 300)), ("120x120-cover", (120, 120))):
        copy = pyvips.Image.new_from_file(str(out / f"hdr-{label}.jpg"))
        assert copy.get("vips-loader") == "uhdrload"
        assert (copy.width, copy.height) == size
        gain = copy.get_gainmap()
        assert gain.width <= copy.width and gain.height <= copy.height
        # At the source's own scale (half the picture's size in libvips' Ultra HDR) ...
        assert gain.width / copy.width == pytest.approx(0.5, abs=0.02)
        assert gain.height / copy.height == pytest.approx(0.5, abs=0.02)
        # ... and turned and cut as the picture: bright where the picture is.
        top_left, bottom_right = quarter_means(gain)
        assert top_left > bottom_right + 20, (label, top_left, bottom_right)
        for fmt in ("webp", "avif", "png"):  # no gain map there: the SDR base as before
            other = pyvips.Image.new_from_file(str(out / f"hdr-{label}.{EXTENSION[fmt]}"))
            assert not other.get_typeof("gainmap-data")
    listed = {(r["format"], r["hdr"]) for r in manifest(out, "hdr")["renditions"]}
    assert listed == {("jpeg", True), ("webp", False), ("avif", False), ("png", False)}


def test_hdr_drop_gives_sdr_jpeg_copies(tmp_path: Path) -> None:
    _, out = process(tmp_path, "hdr.jpg", ultra_hdr(), RESIZE_WIDTHS="400", HDR="drop")

    copy = pyvips.Image.new_from_file(str(out / "hdr-400.jpg"))
    assert copy.get("vips-loader") == "jpegload"
    assert not [f for f in copy.get_fields() if f.startswith("gainmap")]
    assert {r["hdr"] for r in manifest(out, "hdr")["renditions"]} == {False}


# --- rights ----------------------------------------------------------------------------


def exif_text(image: pyvips.Image, tag: int) -> str | None:
    """The raw text of IFD0 `tag` in an image's EXIF (UTF-8), or None."""
    from app.image import rights

    found = rights._exif_tags(bytes(image.get("exif-data")))
    return found[tag][1].decode() if tag in found else None


def test_creator_and_copyright_survive_in_every_format_while_gps_and_serials_do_not(
    tmp_path: Path,
) -> None:
    data = with_rights()
    source = pyvips.Image.new_from_buffer(data, "")
    assert source.get_typeof("exif-ifd3-GPSLatitude")  # the fixture really has them
    assert "EXIF-SN-0042" in source.get("exif-ifd2-BodySerialNumber")
    assert exif_text(source, 0x013B) == ARTIST
    _, out = process(tmp_path, "signed.jpg", data, RESIZE_WIDTHS="300")

    for fmt in FORMATS:
        copy = pyvips.Image.new_from_file(str(out / f"signed-300.{EXTENSION[fmt]}"))
        assert exif_text(copy, 0x013B) == ARTIST, fmt
        assert exif_text(copy, 0x8298) == COPYRIGHT, fmt
        fields = copy.get_fields()
        assert not [f for f in fields if "GPS" in f or "Serial" in f or "Make" in f], fmt
        xmp = bytes(copy.get("xmp-data")).decode()
        assert ARTIST in xmp and COPYRIGHT in xmp, fmt
        assert "GPS" not in xmp and "SN-0042" not in xmp, fmt
        everything = b"".join(
            bytes(copy.get(f)) for f in ("exif-data", "xmp-data", "iptc-data") if f in fields
        )
        assert b"SN-0042" not in everything and b"51,30" not in everything, fmt
        if fmt == "jpeg":  # only JPEG has a place for IPTC
            block = bytes(copy.get("iptc-data"))
            assert ARTIST.encode() in block and COPYRIGHT.encode() in block
            assert b"Secret City" not in block
        else:
            assert "iptc-data" not in fields, fmt


def test_iptc_rights_reach_webp_and_avif_as_xmp(tmp_path: Path) -> None:
    _, out = process(tmp_path, "iptc.jpg", with_rights(xmp=False), RESIZE_WIDTHS="300")

    for fmt in ("webp", "avif", "png"):
        copy = pyvips.Image.new_from_file(str(out / f"iptc-300.{EXTENSION[fmt]}"))
        xmp = bytes(copy.get("xmp-data")).decode()
        assert ARTIST in xmp and COPYRIGHT in xmp, fmt


def test_rights_none_keeps_no_metadata_at_all(tmp_path: Path) -> None:
    _, out = process(tmp_path, "signed.jpg", with_rights(), RESIZE_WIDTHS="300", RIGHTS="none")

    for fmt in FORMATS:
        fields = pyvips.Image.new_from_file(str(out / f"signed-300.{EXTENSION[fmt]}")).get_fields()
        assert not [f for f in fields if f.startswith(("exif", "xmp", "iptc", "icc"))], fmt


def test_an_xmp_packet_with_a_dtd_is_not_read() -> None:
    from app.image import rights

    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        + XMP.encode().replace(ARTIST.encode(), b"&b;")
    )
    assert rights.read(None, bomb, None).xmp is None


# --- settings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COLOUR": "p3"}, "invalid COLOUR 'p3': expected one of keep, srgb"),
        ({"HDR": "on"}, "invalid HDR 'on': expected one of keep, drop"),
        ({"RIGHTS": "all"}, "invalid RIGHTS 'all': expected one of keep, none"),
    ],
)
def test_bad_settings_are_refused_with_the_choices_named(env: dict[str, str], message) -> None:
    with pytest.raises(ConfigError) as raised:
        config.load(env)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"), [("COLOUR", "srgb"), ("HDR", "drop"), ("RIGHTS", "none")]
)
def test_each_setting_changes_the_recipe(name: str, value: str) -> None:
    assert recipe.tag(config.load({name: value})) != recipe.tag(config.load({}))


def test_the_benchmarks_decode_writes_no_rights() -> None:
    """A decode that has not been through carry.kept (the benchmark's) writes no EXIF."""
    image = pyvips.Image.new_from_buffer(with_rights(), "")
    rendition = imaging.encode(image, imaging.SizeSpec(640), "jpeg", 80)
    fields = pyvips.Image.new_from_buffer(rendition.data, "").get_fields()
    assert not [f for f in fields if f.startswith(("exif", "xmp", "iptc"))]


def test_the_manifests_placeholder_colours_are_srgb_for_a_wide_photo(tmp_path: Path) -> None:
    data = patches(icc.builtin("p3"), [(40, 200, 90)] * 4)
    expected = pyvips.Image.new_from_buffer(data, "").icc_transform("srgb", embedded=True)(50, 50)
    _, out = process(tmp_path, "leaf.jpg", data, RESIZE_WIDTHS="400", OUTPUT_FORMATS="jpeg")

    found = manifest(out, "leaf")["dominantColor"]
    rgb = [int(found[i : i + 2], 16) for i in (1, 3, 5)]
    assert rgb == pytest.approx(expected, abs=4)  # sRGB's numbers, not P3's (40, 200, 90)
    assert abs(rgb[0] - 40) > 10


def heic_with(exif: bytes, icc_profile: bytes) -> bytes:
    """A HEIC photo (pillow-heif's x265) carrying `exif` and `icc_profile`."""
    import io

    import pillow_heif
    from PIL import Image

    picture = pyvips.Image.black(400, 300).new_from_image([30, 200, 60]).cast("uchar")
    pil = Image.frombytes("RGB", (400, 300), picture.write_to_memory())
    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    pil.save(out, format="HEIF", quality=90, exif=exif, icc_profile=icc_profile)
    return out.getvalue()


def test_a_heic_photo_keeps_display_p3_and_its_rights_but_not_its_gps(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    from PIL import Image

    exif = Image.Exif()
    # Pillow writes a str as ASCII (ë becomes ?): the UTF-8 bytes go in as they are.
    exif[0x013B], exif[0x8298] = ARTIST.encode(), COPYRIGHT.encode()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # the GPS IFD: latitude 51° 30' N
    data = heic_with(exif.tobytes(), icc.builtin("p3"))
    import pillow_heif

    stored = Image.Exif()
    stored.load(pillow_heif.open_heif(data).info["exif"])
    assert stored.get_ifd(0x8825)  # the fixture really carries GPS

    _, out = process(tmp_path, "phone.heic", data, RESIZE_WIDTHS="200", OUTPUT_FORMATS="jpeg")

    copy = pyvips.Image.new_from_file(str(out / "phone-200.jpg"))
    assert colour.name(copy.get("icc-profile-data")) == "Display P3"
    found = rights._exif_tags(bytes(copy.get("exif-data")))
    assert found[rights.ARTIST][1].decode() == ARTIST
    assert found[rights.COPYRIGHT][1].decode() == COPYRIGHT
    assert not [f for f in copy.get_fields() if "GPS" in f]
