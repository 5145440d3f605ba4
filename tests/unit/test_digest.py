"""app/digest.py: hashlib's SHA-256, from CPython's built-in module or from hashlib itself.

What the digests name must not change with where SHA-256 comes from: copies carry recipe
tags and keys made of digests, and a copy whose tag changed would look stale.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from app import digest, naming
from app.config import profiles
from app.config import settings as config
from app.image import colour
from app.renditions import recipe
from bench import icc

ROOT = Path(__file__).resolve().parents[2]
# CPython 3.12's built-in SHA-256, as in the image (3.11 names it _sha256: app/digest.py
# then takes hashlib's, the same digest, and these tests of the built-in one skip).
_sha2 = pytest.importorskip("_sha2", reason="no _sha2 (CPython before 3.12)")
_random = random.Random(24)
# Empty, short, across SHA-256's 64-byte blocks and its padding (55/56), a text, long,
# random bytes short and long, and either side of the length where sha256_digest turns to
# OpenSSL's.
INPUTS = [
    b"",
    b"a",
    b"abc",
    b"x" * 55,
    b"x" * 56,
    b"x" * 63,
    b"x" * 64,
    b"x" * 65,
    "images/my photoé.jpg".encode(),
    bytes(range(256)) * 4096,
    _random.randbytes(1),
    _random.randbytes(1_000),
    _random.randbytes(3_000_000),
    _random.randbytes(digest.LONG),
    _random.randbytes(digest.LONG + 1),
]


def _in_a_fresh_interpreter(prelude: str) -> dict[str, object]:
    """What a fresh interpreter, after `prelude`, makes of INPUTS with app.digest."""
    probe = (
        "import json, sys\n"
        f"{prelude}\n"
        "from app import digest\n"
        "inputs = [bytes.fromhex(each) for each in json.load(sys.stdin)]\n"
        "hexdigests = [digest.sha256(data).hexdigest() for data in inputs]\n"
        "short = [digest.sha256_digest(d).hex() for d in inputs if len(d) <= digest.LONG]\n"
        "loaded = 'hashlib' in sys.modules\n"
        "import hashlib\n"
        "print(json.dumps({\n"
        "    'module': digest.sha256.__module__,\n"
        "    'is_hashlibs': digest.sha256 is hashlib.sha256,\n"
        "    'hashlib_loaded_by_short_data': loaded,\n"
        "    'hexdigests': hexdigests,\n"
        "    'short_digests': short,\n"
        "    'digests': [digest.sha256_digest(data).hex() for data in inputs],\n"
        "}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps([data.hex() for data in INPUTS]),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def _hashlibs() -> list[str]:
    return [hashlib.sha256(data).hexdigest() for data in INPUTS]


@pytest.mark.parametrize("data", INPUTS, ids=lambda data: f"{len(data)}B")
def test_the_built_in_sha256_is_hashlibs(data: bytes) -> None:
    assert digest.sha256 is _sha2.sha256  # CPython 3.12's, as in the image

    assert digest.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert digest.sha256(data).digest() == hashlib.sha256(data).digest()
    assert digest.sha256_digest(data) == hashlib.sha256(data).digest()
    fed = digest.sha256()  # fed a piece at a time, and copied halfway
    fed.update(data[: len(data) // 2])
    half = fed.copy()
    fed.update(data[len(data) // 2 :])
    assert fed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert half.hexdigest() == hashlib.sha256(data[: len(data) // 2]).hexdigest()


def test_the_built_in_sha256_describes_itself_as_hashlibs() -> None:
    ours, theirs = digest.sha256(), hashlib.sha256()
    assert (ours.name, ours.digest_size, ours.block_size) == (
        theirs.name,
        theirs.digest_size,
        theirs.block_size,
    )


def test_hashing_short_data_loads_no_hashlib() -> None:
    found = _in_a_fresh_interpreter("")

    assert found["module"] == "_sha2"
    assert found["hashlib_loaded_by_short_data"] is False
    assert found["hexdigests"] == _hashlibs()
    assert found["short_digests"] == [
        hashlib.sha256(data).hexdigest() for data in INPUTS if len(data) <= digest.LONG
    ]
    assert found["digests"] == _hashlibs()


def test_without_the_built_in_module_hashlibs_sha256_is_taken() -> None:
    # As on an interpreter built without _sha2: importing it fails.
    found = _in_a_fresh_interpreter("sys.modules['_sha2'] = None")

    assert found["is_hashlibs"] is True
    assert found["hexdigests"] == _hashlibs()
    assert found["digests"] == _hashlibs()


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"QUALITY": "70"},
        {"RESIZE_WIDTHS": "64x64:cover,300", "OUTPUT_FORMATS": "webp,avif"},
        {"CROP": "centre", "ANIMATION": "keep", "COLOUR": "srgb", "HDR": "drop"},
    ],
)
def test_recipe_tags_are_those_hashlib_made(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = config.load(environ)
    tag = recipe.tag(settings)
    monkeypatch.setattr(recipe, "sha256", hashlib.sha256)  # as the tag was made before

    assert tag == recipe.tag(settings)


@pytest.mark.parametrize("key", ["images/../cat.jpg", "images/" + "é" * 600 + ".jpg"])
def test_keys_digests_are_hashlibs(key: str) -> None:
    long = "v" * 1024

    metadata = naming.rendition_metadata(key, '"abc"', "jpeg", long)

    assert naming.digest_fields(key)["stem"] == "~" + hashlib.sha256(key.encode()).hexdigest()[:32]
    assert metadata[naming.SOURCE_VERSION] == "sha256:" + hashlib.sha256(long.encode()).hexdigest()
    assert naming.source_marker("images/" + "a" * 3000) == (
        "sha256:" + hashlib.sha256(("images/" + "a" * 3000).encode()).hexdigest()
    )


def test_the_files_hash_is_hashlibs(tmp_path: Path) -> None:
    path = tmp_path / "renditions.toml"
    path.write_text('[defaults]\nquality = "70"\n')

    loaded = profiles.load({}, path)

    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("tail", [0, digest.LONG], ids=["short", "long"])
def test_colour_profiles_are_kept_by_hashlibs_digest(tail: int) -> None:
    profile = icc.builtin("srgb") + bytes(tail)

    colour.is_srgb(profile)

    assert hashlib.sha256(profile).digest() in colour._SEEN
