"""HEIC photos (HEVC): told from their first bytes, decoded by pillow-heif, upright, in sRGB."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import images
import pillow_heif
import pytest
import pyvips
from PIL import Image

from app.errors import BadImage, InputTooLarge
from app.image import heic, heif_brand, imaging
from app.localfiles import LocalStore

ROOT = Path(__file__).resolve().parents[2]
SPECS = tuple(imaging.SizeSpec(w) for w in (300, 600))


def decode(data: bytes, specs: tuple[imaging.SizeSpec, ...] = SPECS, max_pixels: int = 10**8):
    photo = heic.Heic(data, "test.heic")
    header = photo.header(max_pixels)
    return header, photo.decode(header, specs, flatten=True)


def rebrand(data: bytes, old: bytes, new: bytes) -> bytes:
    """The file with every `old` brand of its ftyp box renamed `new`."""
    size = int.from_bytes(data[:4], "big")
    return data[:size].replace(old, new) + data[size:]


def test_hevc_is_told_from_the_brands_or_the_item_properties() -> None:
    photo, avif = images.heic(), images.avif()
    assert heif_brand.is_hevc(photo[: heif_brand.PEEK_BYTES])
    assert not heif_brand.is_hevc(avif[: heif_brand.PEEK_BYTES])
    # Only the generic brands: the codec's configuration box tells.
    generic = rebrand(photo, b"heic", b"mif1")
    assert b"heic" not in generic[:32]
    assert heif_brand.is_hevc(generic[: heif_brand.PEEK_BYTES])
    assert not heif_brand.is_hevc(rebrand(avif, b"avif", b"mif1")[: heif_brand.PEEK_BYTES])
    for other in (images.jpeg(64, 48), images.png(64, 48), b"", b"\x00\x00\x00\x08ftyp"):
        assert not heif_brand.is_hevc(other)


def test_peeked_gives_back_every_byte_in_order() -> None:
    data = images.jpeg(640, 480)
    stream = io.BytesIO(data)
    peeked = heif_brand.Peeked(lambda n: stream.read(min(n, 1000)))
    assert peeked.head == data[: heif_brand.PEEK_BYTES]
    parts = [peeked.read(4096) for _ in range(3)]
    assert b"".join(parts) + peeked.rest() == data


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_rotated_heic_is_upright_exactly_once(orientation: int) -> None:
    data = images.heic(images.upright(800, 600), orientation=orientation)
    # The file carries the turn twice: as HEIF transforms and as its EXIF tag.
    exif = Image.Exif()
    exif.load(pillow_heif.open_heif(data).info["exif"])
    assert exif.get(0x0112) == orientation
    assert (b"irot" in data or b"imir" in data) == (orientation != 1)

    header, image = decode(data)

    assert (header.width, header.height) == (800, 600)
    assert (image.width, image.height) == (600, 450)
    assert images.top_left_is_red(image)


def test_a_display_p3_heic_becomes_srgb() -> None:
    red = pyvips.Image.black(400, 300).new_from_image([220, 20, 20]).cast("uchar")
    p3 = red.copy(interpretation="srgb").icc_transform("p3", input_profile="srgb")
    profile = bytes(p3.get("icc-profile-data"))
    stored = p3.cast("uchar").copy(interpretation="srgb")
    assert images.mean_colour(stored)[1] > 40  # P3's numbers for that red: not sRGB's

    _, image = decode(images.heic(stored, icc=profile), (imaging.SizeSpec(200),))

    mean = images.mean_colour(image)
    assert mean == pytest.approx((220, 20, 20), abs=6)


def test_a_heic_with_alpha_is_flattened_for_jpeg() -> None:
    clear = pyvips.Image.black(200, 100, bands=4).cast("uchar").copy(interpretation="srgb")
    header, image = decode(images.heic(clear), (imaging.SizeSpec(100),))
    assert header.bands == 4
    assert image.bands == 3
    assert images.mean_colour(image) == pytest.approx((255, 255, 255), abs=3)


def test_the_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(InputTooLarge) as raised:
        decode(images.heic(images.upright(800, 600)), max_pixels=400_000)
    assert str(raised.value) == (
        "test.heic is 800x600 (0.4 MP); limit is 0.4 MP (MAX_INPUT_PIXELS)"
    )


def test_a_damaged_heic_is_a_bad_image() -> None:
    data = images.heic()
    with pytest.raises(BadImage) as raised:
        decode(data[: len(data) * 2 // 3])
    assert str(raised.value).startswith(
        "test.heic is not an image in a supported format (HEIC header unreadable: "
    )
    assert "references data outside of file bounds" in str(raised.value)


def test_heic_becomes_jpeg_copies_through_the_pipeline(tmp_path: Path) -> None:
    from app.config import settings as config
    from app.model import ObjectRef
    from app.renditions import pipeline

    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(images.heic(orientation=6))
    store = LocalStore({"images/IMG_0001.HEIC": path}, tmp_path / "out", "copy/")
    settings = config.load({"RESIZE_WIDTHS": "300,600"})
    ref = ObjectRef("local", "images/IMG_0001.HEIC", label=str(path))

    outcome = pipeline.process(ref, settings, store)

    assert outcome.status == "processed", outcome.reason
    assert outcome.details["loader"] == "heicload"
    assert [(o.key, o.width, o.height, o.content_type) for o in outcome.outputs] == [
        ("copy/IMG_0001-300.jpg", 300, 225, "image/jpeg"),
        ("copy/IMG_0001-600.jpg", 600, 450, "image/jpeg"),
    ]
    copy = images.load((tmp_path / "out" / "IMG_0001-600.jpg").read_bytes())
    assert images.top_left_is_red(copy)


# The sentence a HEIC upload gets where pillow-heif is not installed.
WITHOUT = (
    "{name} is a HEIC photo (HEVC); this image was built without HEIC support: "
    "rebuild with --build-arg HEIC=on (scripts/deploy.sh --heic)"
)


def test_without_pillow_heif_a_heic_fails_with_how_to_enable_it(tmp_path: Path) -> None:
    (tmp_path / "IMG_0001.heic").write_bytes(images.heic())
    (tmp_path / "cat.jpg").write_bytes(images.jpeg(640, 480))
    # A None entry in sys.modules makes `import pillow_heif` fail, as where it is absent.
    script = (
        "import sys; sys.modules['pillow_heif'] = None\n"
        "from app.__main__ import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    files = [str(tmp_path / "IMG_0001.heic"), str(tmp_path / "cat.jpg")]
    done = subprocess.run(
        [sys.executable, "-c", script, "resize", "--out", str(tmp_path / "out"), *files],
        cwd=ROOT,
        text=True,
        capture_output=True,
        timeout=120,
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 1, done.stderr
    heic_line, jpeg_line = done.stdout.splitlines()
    name = tmp_path / "IMG_0001.heic"
    assert heic_line == f"{name}: failed: " + WITHOUT.format(name=name)
    assert jpeg_line.startswith(f"{tmp_path / 'cat.jpg'}: processed")


def test_the_handler_cold_start_does_not_load_pillow_heif() -> None:
    probe = (
        "import sys, app.handler\n"
        "print('app.image.heic' in sys.modules, 'pillow_heif' in sys.modules)\n"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x"}
    env |= {"AWS_SECRET_ACCESS_KEY": "x"}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == ["False", "False"]
