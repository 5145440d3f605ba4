"""The benchmark's images: the corpus photographs, larger ones made from them, and a
set of variants that no decode or colour rule was tuned on.

Made once into `bench/results/images/` (not committed): a 48 MP baseline JPEG, a
20 MP progressive JPEG and a 20 MP PNG, all from the 20 MP Kleiber photograph. Without
the corpus (`../shared/corpus`), a synthetic photograph stands in for it.

The variants (`VARIANTS`) are the photos people upload, made from the corpus photos:
12 MP phone-sized 4032x3024, 9 MP 3840x2400 and 3640x2400, 4224x3168 and 8 MP, 4:4:4
and 4:2:0 chroma, Display P3, Adobe RGB and sRGB profiles or none, EXIF-rotated,
restart markers, quality 75 to 95. They are split in two halves, `tune` and `report`,
by the SHA-256 of their names (sorted by it, every other one): a rule is chosen on
`tune` and reported on `report`, so the report says how it does on photos it never saw.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pyvips

from bench import icc

ROOT = Path(__file__).resolve().parents[1]
# As tests/conftest.py finds it: CORPUS_DIR, else ../shared/corpus beside the repo.
CORPUS = Path(os.environ.get("CORPUS_DIR") or ROOT.parent / "shared" / "corpus") / "photos"
MADE = ROOT / "bench" / "results" / "images"
BASE = "Kleiber_by_Lukas_Baubkus.jpg"  # 6028x3391 baseline, the 20 MP photograph


def synthetic(width: int, height: int) -> pyvips.Image:
    """A photo-like picture: smooth gradients with noise, which codecs treat like a photo."""
    x, y = pyvips.Image.xyz(width, height).bandsplit()
    noise = pyvips.Image.gaussnoise(width, height, sigma=12)
    red = x * (255 / width) + noise
    green = y * (255 / height) + noise
    blue = (x + y) * (255 / (width + height)) - noise
    return red.bandjoin([green, blue]).cast("uchar").copy(interpretation="srgb")


def quick() -> list[Path]:
    """One small image, for the smoke run (`--quick`)."""
    path = MADE / "synthetic-3mp.jpg"
    if not path.exists():
        MADE.mkdir(parents=True, exist_ok=True)
        synthetic(2000, 1500).jpegsave(str(path), Q=90)
    return [path]


def full() -> list[Path]:
    """The corpus photographs plus the made ones, smallest first."""
    MADE.mkdir(parents=True, exist_ok=True)
    photos = sorted(CORPUS.glob("*.jpg")) if CORPUS.is_dir() else []
    if photos:
        base = pyvips.Image.new_from_file(str(CORPUS / BASE))
    else:
        print(f"note: {CORPUS} is absent; a synthetic 20 MP photograph stands in for it")
        base = synthetic(6028, 3391)
    made = {
        "made-48mp-8000x6000.jpg": lambda p: base.resize(
            8000 / base.width, vscale=6000 / base.height
        ).jpegsave(p, Q=90),
        "made-20mp-progressive.jpg": lambda p: base.jpegsave(p, Q=90, interlace=True),
        "made-20mp.png": lambda p: base.pngsave(p, compression=6),
    }
    for name, make in made.items():
        if not (MADE / name).exists():
            make(str(MADE / name))
    paths = photos + [MADE / name for name in made]
    return sorted(paths, key=lambda p: p.stat().st_size)


def worst_cases() -> list[Path]:
    """Inputs at the default MAX_INPUT_PIXELS (100 MP) that make a decoder hold the most:
    progressive JPEG (every scan's coefficients kept) and interlaced PNG (whole image)."""
    MADE.mkdir(parents=True, exist_ok=True)
    made = {
        "worst-99mp-baseline.jpg": lambda im, p: im.jpegsave(p, Q=90),
        "worst-99mp-progressive.jpg": lambda im, p: im.jpegsave(p, Q=90, interlace=True),
        # Smooth, so that it compresses under MAX_INPUT_BYTES: what the decoder holds is
        # the bitmap, whatever the content.
        "worst-99mp-interlaced.png": lambda im, p: im.gaussblur(4).pngsave(
            p, interlace=True, compression=6
        ),
    }
    base = None
    for name, make in made.items():
        if not (MADE / name).exists():
            if base is None:
                base = synthetic(12000, 8250).copy_memory()  # 99 MP
            make(base, str(MADE / name))
    return [MADE / name for name in made]


@dataclass(frozen=True)
class Variant:
    photo: str  # a corpus photo's name, up to its first `_`
    width: int
    height: int
    quality: int
    chroma: str  # "444" or "420"
    profile: str | None  # "srgb", "p3", "adobe-rgb" or None
    orientation: int = 1  # EXIF: stored turned, shown upright
    restart: int = 0  # restart interval in MCUs (0: none)

    @property
    def name(self) -> str:
        parts = [self.photo.lower(), f"{self.width}x{self.height}", f"q{self.quality}"]
        parts += [self.chroma, self.profile or "noprofile"]
        parts += [f"rot{self.orientation}"] if self.orientation != 1 else []
        parts += [f"rst{self.restart}"] if self.restart else []
        return "var-" + "-".join(parts) + ".jpg"

    def make(self, path: Path) -> None:
        photo = next(CORPUS.glob(f"{self.photo}_*.jpg"))
        image = pyvips.Image.new_from_file(str(photo))
        # Centre-cut to the aspect ratio, then Lanczos-3 to the size (stored turned for
        # an orientation of 5-8, as a phone held upright stores it).
        width, height = self.width, self.height
        if self.orientation in (5, 6, 7, 8):
            width, height = height, width
        scale = max(width / image.width, height / image.height)
        image = image.resize(scale, kernel="lanczos3")
        image = image.crop((image.width - width) // 2, (image.height - height) // 2, width, height)
        image = image.copy()
        for field in image.get_fields():
            if field.startswith(("exif", "xmp", "iptc", "icc", "orientation")):
                image.remove(field)
        if self.profile:
            profiles = {"srgb": lambda: icc.builtin("srgb"), "p3": lambda: icc.builtin("p3")}
            profile = profiles.get(self.profile, icc.adobe_rgb)()
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
        if self.orientation != 1:
            image.set_type(pyvips.GValue.gint_type, "orientation", self.orientation)
        image.jpegsave(
            str(path),
            Q=self.quality,
            subsample_mode="off" if self.chroma == "444" else "on",
            restart_interval=self.restart,
            optimize_coding=True,
        )


VARIANTS = (
    Variant("Kleiber", 4032, 3024, 92, "420", "p3", orientation=6),  # an iPhone's
    Variant("SafeLanding", 4032, 3024, 85, "420", "srgb"),  # an Android phone's
    Variant("sunset", 4032, 3024, 95, "444", None, restart=64),
    Variant("Dragonfly", 4032, 3024, 80, "420", "adobe-rgb", orientation=8),
    Variant("seeding", 4032, 3024, 88, "420", "srgb", orientation=6),
    Variant("seeding", 3840, 2400, 90, "444", None, restart=4),
    Variant("Kleiber", 3840, 2400, 75, "420", "srgb", restart=16),
    Variant("Dragonfly", 3840, 2400, 85, "444", "p3"),
    Variant("SafeLanding", 3640, 2400, 88, "444", "p3"),
    Variant("Dragonfly", 3640, 2400, 95, "420", None, orientation=6),
    Variant("sunset", 3640, 2400, 78, "420", "adobe-rgb", restart=32),
    Variant("sunset", 4224, 3168, 85, "420", "srgb"),
    Variant("Kleiber", 4224, 3168, 80, "444", "adobe-rgb", orientation=3),
    Variant("Dragonfly", 3264, 2448, 90, "420", "srgb"),  # 8 MP
)


def halves() -> dict[str, list[Variant]]:
    """`tune` and `report`: sorted by the SHA-256 of their names, every other one."""
    ranked = sorted(VARIANTS, key=lambda v: hashlib.sha256(v.name.encode()).hexdigest())
    return {"tune": ranked[0::2], "report": ranked[1::2]}


def variants(half: str) -> list[Path]:
    """The variants of one half (`tune` or `report`), made when missing; none without
    the corpus."""
    if not CORPUS.is_dir():
        print(f"note: {CORPUS} is absent; no variants")
        return []
    MADE.mkdir(parents=True, exist_ok=True)
    paths = []
    for variant in halves()[half]:
        path = MADE / variant.name
        if not path.exists():
            variant.make(path)
        paths.append(path)
    return paths
