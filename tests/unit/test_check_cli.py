"""`python -m app check` and `resize --profile`: the configuration as a cold start reads it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import images
import pytest
from test_cli import run
from test_profiles import BAD, THREE

from app.config import profiles
from app.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_check_prints_the_profiles_and_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(THREE)

    done = run("check", "--config", str(path))

    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        f"configuration: {path}",
        "  profile default: sizes 300,600; formats source; copies under copy/",
        "  profile avatars: sizes 64x64-cover,128x128-cover; formats webp,jpeg; copies under copy/",
        "  profile products: sizes 300,600,900,1200; formats jpeg,webp,avif; copies under "
        "products/",
        "  rule images/avatars/ -> avatars",
        "  rule images/shop/ -> products",
        "  rule images/ -> default",
        "  an upload's 'profile' metadata may name any profile above",
    ]


def test_check_json_is_the_effective_configuration(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(THREE)

    done = run("check", "--json", RENDITIONS_CONFIG=str(path), OUTPUT_BUCKET="thumbs")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["config_file"] == str(path)
    assert document["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (document["source_prefix"], document["output_bucket"], document["event_bus"]) == (
        "images/",
        "thumbs",
        None,
    )
    assert document["output_prefixes"] == ["copy/", "products/"]
    assert document["rules"] == [
        {"prefix": "images/avatars/", "profile": "avatars"},
        {"prefix": "images/shop/", "profile": "products"},
        {"prefix": "images/", "profile": "default"},
    ]
    assert list(document["profiles"]) == ["default", "avatars", "products"]
    avatars = document["profiles"]["avatars"]
    assert avatars["resize_widths"] == "64x64:cover,128x128:cover"
    assert (avatars["output_formats"], avatars["quality"], avatars["manifest"]) == (
        "webp,jpeg",
        "75",
        "off",
    )
    assert (avatars["output_bucket"], document["log_level"], document["object_concurrency"]) == (
        "thumbs",
        "INFO",
        "4",
    )


def test_check_without_a_file_says_so() -> None:
    done = run("check", "--json", RENDITIONS_CONFIG=str(ROOT / "renditions.toml"))
    document = json.loads(done.stdout)
    assert (document["config_file"], list(document["profiles"])) == (
        str(ROOT / "renditions.toml"),
        ["default"],
    )


def test_a_bad_file_exits_2_with_the_functions_own_sentence(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    with pytest.raises(ConfigError) as caught:  # what the function's cold start raises
        profiles.load({"RENDITIONS_CONFIG": str(path)})
    expected = f"error: {caught.value}\n"

    for args in (("check",), ("check", "--json"), ("resize", "x.jpg", "--out", str(tmp_path))):
        done = run(*args, RENDITIONS_CONFIG=str(path))
        assert (done.returncode, done.stdout, done.stderr) == (2, "", expected)
    assert expected.startswith("error: invalid configuration (12 problems): ")


def test_resize_makes_the_named_profiles_copies(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(THREE)
    (tmp_path / "me.jpg").write_bytes(images.jpeg(1200, 900))

    done = run(
        "resize",
        str(tmp_path / "me.jpg"),
        "--out",
        str(tmp_path / "out"),
        "--profile",
        "avatars",
        RENDITIONS_CONFIG=str(path),
    )

    assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert made == [
        "me-128x128-cover.jpg",
        "me-128x128-cover.webp",
        "me-64x64-cover.jpg",
        "me-64x64-cover.webp",
    ]  # manifest off in that profile
    wrong = run(
        "resize",
        str(tmp_path / "me.jpg"),
        "--out",
        str(tmp_path / "o"),
        "--profile",
        "thumbs",
        RENDITIONS_CONFIG=str(path),
    )
    assert (wrong.returncode, wrong.stderr) == (
        2,
        "error: invalid --profile 'thumbs': not declared; declared profiles: default, avatars, "
        "products\n",
    )
