"""The benchmark's images: the corpus photographs, and larger ones made from them.

Made once into `bench/results/images/` (not committed): a 48 MP baseline JPEG, a
20 MP progressive JPEG and a 20 MP PNG, all from the 20 MP Kleiber photograph. Without
the corpus (`../shared/corpus`), a synthetic photograph stands in for it.
"""

from __future__ import annotations

from pathlib import Path

import pyvips

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "photos"
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
