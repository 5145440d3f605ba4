"""One renditions.toml with three profiles, through every path: the handler against the local
S3 server, the command line, deletes, backfill --local and the local stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import images
import pytest
from harness import LambdaContext, s3_event, sample_event

from app.config import profiles
from app.errors import ConfigError
from devtools.s3server import FAKE_AWS_ENV

ROOT = Path(__file__).resolve().parents[2]
PHOTO = images.jpeg(1200, 900)

CONFIG = """
[defaults]
resize_widths = "300,600"

[profiles.avatars]
resize_widths = ["64x64:cover", "128x128:cover"]
output_formats = "webp,jpeg"
manifest = "off"

[profiles.products]
resize_widths = "300,900"
output_formats = ["jpeg", "webp"]
output_prefix = "products/"
quality = 85

[[rules]]
prefix = "images/avatars/"
profile = "avatars"

[[rules]]
prefix = "images/shop/"
profile = "products"
"""

# What each profile makes of one 1200x900 JPEG (name below its output prefix and folder).
MADE = {
    "default": {"x-300.jpg", "x-600.jpg", "x.json"},
    "avatars": {
        "x-64x64-cover.webp",
        "x-64x64-cover.jpg",
        "x-128x128-cover.webp",
        "x-128x128-cover.jpg",
    },
    "products": {"x-300.jpg", "x-300.webp", "x-900.jpg", "x-900.webp", "x.json"},
}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "renditions.toml"
    path.write_text(CONFIG)
    return path


def listing(s3: Any, bucket: str, prefix: str = "") -> dict[str, bytes]:
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}


def named(keys: list[str] | set[str], prefix: str) -> set[str]:
    return {key.removeprefix(prefix) for key in keys}


def test_each_upload_gets_its_profiles_copies(s3, bucket, load_handler, config_file, tmp_path):
    uploads = {
        "images/x.jpg": {},  # no rule: the default
        "images/avatars/x.jpg": {},
        "images/shop/x.jpg": {},
        "images/chosen/x.jpg": {"profile": "avatars"},  # metadata wins over the rules
        "images/shop/y/x.jpg": {"profile": "default"},
        "images/typo/x.jpg": {"profile": "avatar"},
    }
    for key, metadata in uploads.items():
        s3.put_object(Bucket=bucket, Key=key, Body=PHOTO, Metadata=metadata)
    handler = load_handler(RENDITIONS_CONFIG=str(config_file))

    reply = handler.handler(s3_event(bucket, list(uploads)), LambdaContext())

    results = {r["key"]: r for r in reply["results"]}
    assert {k: (r["status"], r.get("profile")) for k, r in results.items()} == {
        "images/x.jpg": ("processed", "default"),
        "images/avatars/x.jpg": ("processed", "avatars"),
        "images/shop/x.jpg": ("processed", "products"),
        "images/chosen/x.jpg": ("processed", "avatars"),
        "images/shop/y/x.jpg": ("processed", "default"),
        "images/typo/x.jpg": ("failed", None),  # refused before a profile is taken
    }
    assert results["images/typo/x.jpg"]["reason"] == (
        f"s3://{bucket}/images/typo/x.jpg asks for profile 'avatar' (metadata 'profile'), "
        "which is not declared; declared profiles: default, avatars, products"
    )
    assert "retryable" not in results["images/typo/x.jpg"]
    copies = listing(s3, bucket, "copy/")
    assert (
        named({k for k in copies if "/" not in k.removeprefix("copy/")}, "copy/") == MADE["default"]
    )
    assert (
        named({k for k in copies if k.startswith("copy/avatars/")}, "copy/avatars/")
        == MADE["avatars"]
    )
    assert (
        named({k for k in copies if k.startswith("copy/chosen/")}, "copy/chosen/")
        == MADE["avatars"]
    )
    assert (
        named({k for k in copies if k.startswith("copy/shop/y/")}, "copy/shop/y/")
        == MADE["default"]
    )
    assert not any(k.startswith("copy/typo/") for k in copies)
    products = listing(s3, bucket, "products/")
    assert named(set(products), "products/shop/") == MADE["products"]
    # The manifest names the profile; its copies were made at that profile's quality.
    manifest = json.loads(products["products/shop/x.json"])
    assert manifest["profile"] == "products"
    assert json.loads(copies["copy/x.json"])["profile"] == "default"
    head = s3.head_object(Bucket=bucket, Key="products/shop/x-300.jpg")["Metadata"]
    assert (
        head["recipe"] != s3.head_object(Bucket=bucket, Key="copy/x-300.jpg")["Metadata"]["recipe"]
    )

    # The same copies as the command line makes with --profile, byte for byte.
    (tmp_path / "x.jpg").write_bytes(PHOTO)
    for profile, prefix, found in (
        ("default", "copy/", {k: v for k, v in copies.items() if "/" not in k[5:]}),
        (
            "avatars",
            "copy/avatars/",
            {k: v for k, v in copies.items() if k.startswith("copy/avatars/")},
        ),
        ("products", "products/shop/", products),
    ):
        out = tmp_path / profile
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "app",
                "resize",
                str(tmp_path / "x.jpg"),
                "--out",
                str(out),
                "--profile",
                profile,
            ],
            cwd=ROOT,
            env={**os.environ, "RENDITIONS_CONFIG": str(config_file)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        written = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".json"}
        assert written == {
            k.removeprefix(prefix): v for k, v in found.items() if not k.endswith(".json")
        }

    # A second delivery finds every copy up to date, whatever profile made it.
    again = handler.handler(s3_event(bucket, list(uploads)[:5]), LambdaContext())
    assert again["skipped"] == 5, again


def test_a_deleted_upload_loses_its_copies_whatever_profile_made_them(
    s3, bucket, load_handler, config_file
):
    s3.put_object(Bucket=bucket, Key="images/shop/x.jpg", Body=PHOTO)
    s3.put_object(Bucket=bucket, Key="images/x.jpg", Body=PHOTO, Metadata={"profile": "avatars"})
    handler = load_handler(RENDITIONS_CONFIG=str(config_file))
    made = handler.handler(s3_event(bucket, ["images/shop/x.jpg", "images/x.jpg"]), LambdaContext())
    assert made["processed"] == 2, made

    for key in ("images/shop/x.jpg", "images/x.jpg"):
        s3.delete_object(Bucket=bucket, Key=key)
    delete = sample_event("s3-delete.json", bucket)
    record = delete["Records"][0]
    delete["Records"] = [
        {**record, "s3": {**record["s3"], "object": {**record["s3"]["object"], "key": key}}}
        for key in ("images/shop/x.jpg", "images/x.jpg")
    ]
    reply = handler.handler(delete, LambdaContext())

    deleted = {r["key"]: set(r["deleted"]) for r in reply["results"]}
    assert deleted == {
        "images/shop/x.jpg": {f"products/shop/{name}" for name in MADE["products"]},
        "images/x.jpg": {f"copy/{name}" for name in MADE["avatars"]},
    }
    assert listing(s3, bucket, "copy/") == {} and listing(s3, bucket, "products/") == {}


def test_every_profiles_output_prefix_is_guarded(s3, bucket, load_handler, tmp_path):
    """With OUTPUT_BUCKET set the prefixes may overlap; an event from that bucket under
    any profile's output prefix is refused, not resized again."""
    path = tmp_path / "r.toml"
    path.write_text(
        '[profiles.thumbs]\noutput_prefix = "images/thumbs/"\n'
        '[[rules]]\nprefix = "images/in/"\nprofile = "thumbs"\n'
    )
    s3.put_object(Bucket=bucket, Key="images/thumbs/in/x-300.jpg", Body=PHOTO)
    handler = load_handler(RENDITIONS_CONFIG=str(path), OUTPUT_BUCKET=bucket)

    reply = handler.handler(s3_event(bucket, ["images/thumbs/in/x-300.jpg"]), LambdaContext())

    [result] = reply["results"]
    assert (result["status"], result["reason"]) == (
        "failed",
        f"invalid OUTPUT_BUCKET {bucket!r}: it is the bucket of the upload, and SOURCE_PREFIX "
        "'images/' and OUTPUT_PREFIX 'images/thumbs/' overlap, so every copy would trigger "
        "the function again",
    )
    assert list(listing(s3, bucket)) == ["images/thumbs/in/x-300.jpg"]


def test_a_bad_file_stops_the_cold_start_with_every_problem(load_handler, tmp_path):
    path = tmp_path / "r.toml"
    path.write_text(
        '[profiles.avatars]\nquality = 0\n[[rules]]\nprefix = "images/"\nprofile = "x"\n'
    )

    with pytest.raises(ConfigError) as caught:
        load_handler(RENDITIONS_CONFIG=str(path))

    assert caught.value.problems == [
        "profile 'avatars': invalid quality '0': expected an integer from 1 to 100",
        f"{path}: rule 1 ('images/'): profile 'x' is not declared; declared profiles: "
        "default, avatars",
    ]


def test_backfill_local_gives_each_object_its_own_profile(s3, bucket, config_file, s3_endpoint):
    s3.put_object(Bucket=bucket, Key="images/x.jpg", Body=PHOTO)
    s3.put_object(Bucket=bucket, Key="images/avatars/x.jpg", Body=PHOTO)
    s3.put_object(Bucket=bucket, Key="images/shop/x.jpg", Body=PHOTO)
    s3.put_object(
        Bucket=bucket, Key="images/other/x.jpg", Body=PHOTO, Metadata={"profile": "products"}
    )
    # A copy of an earlier run under products/ is the function's, not an upload.
    s3.put_object(Bucket=bucket, Key="products/shop/old-300.jpg", Body=PHOTO)

    done = subprocess.run(
        [str(ROOT / "scripts" / "backfill.sh"), "--bucket", bucket, "--local", "--prefix", ""],
        env={**os.environ, "AWS_ENDPOINT_URL": s3_endpoint, "RENDITIONS_CONFIG": str(config_file)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 objects to process (5 listed)" in done.stdout
    assert "under the output prefix (the function's own copies): 1" in done.stdout
    keys = set(listing(s3, bucket, "copy/")) | set(listing(s3, bucket, "products/"))
    assert keys == {
        *(f"copy/{n}" for n in MADE["default"]),
        *(f"copy/avatars/{n}" for n in MADE["avatars"]),
        *(f"products/shop/{n}" for n in MADE["products"]),
        *(f"products/other/{n}" for n in MADE["products"]),
        "products/shop/old-300.jpg",
    }


def test_the_local_stack_refuses_a_bad_file_with_the_same_sentence(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('[defaults]\nqualty = 80\n[profiles.a]\ncrop = "middle"\n')
    with pytest.raises(ConfigError) as caught:
        profiles.load({"RENDITIONS_CONFIG": str(path)})

    done = subprocess.run(
        [str(ROOT / "scripts" / "local.sh"), "--s3-port", "1", "--lambda-port", "1"],
        env={**os.environ, "RENDITIONS_CONFIG": str(path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert (done.returncode, done.stderr.splitlines()[-1]) == (2, f"error: {caught.value}")
    assert "Local stack ready" not in done.stdout


def test_the_local_stack_shows_the_profiles_and_makes_each_uploads_copies(config_file):
    from test_stack import start_stack, wait_for

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT")}
    stack, lines, s3_port, _ = start_stack({**env, "RENDITIONS_CONFIG": str(config_file)})
    try:
        wait_for(lambda: any("Local stack ready" in line for line in lines), 60, "the banner")
        banner = "".join(lines)
        assert f"configuration: {config_file}\n" in banner
        assert "  profile avatars: sizes 64x64-cover,128x128-cover; formats webp,jpeg;" in banner
        assert "  rule images/shop/ -> products\n" in banner
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{s3_port}",
            region_name="us-east-1",
            aws_access_key_id=FAKE_AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        bucket = "image-resizer-local"
        s3.put_object(Bucket=bucket, Key="images/avatars/up/x.jpg", Body=PHOTO)
        s3.put_object(Bucket=bucket, Key="images/shop/x.jpg", Body=PHOTO)
        s3.put_object(Bucket=bucket, Key="images/up/x.jpg", Body=PHOTO)
        s3.put_object(
            Bucket=bucket, Key="images/up/me.jpg", Body=PHOTO, Metadata={"profile": "avatars"}
        )
        expected = {
            *(f"copy/avatars/up/{n}" for n in MADE["avatars"]),
            *(f"products/shop/{n}" for n in MADE["products"]),
            *(f"copy/up/{n}" for n in MADE["default"]),
            *(f"copy/up/{n.replace('x-', 'me-')}" for n in MADE["avatars"]),
        }

        def made() -> set[str]:
            return {
                key
                for prefix in ("copy/up/", "copy/avatars/", "products/")
                for key in listing(s3, bucket, prefix)
            }

        try:
            wait_for(lambda: made() == expected, 90, "every upload's copies")
        finally:
            assert made() == expected, "".join(lines)
    finally:
        stack.send_signal(signal.SIGINT)
        status = stack.wait(timeout=30)
    assert status == 0
