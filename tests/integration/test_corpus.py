"""Every file of ../shared/corpus through the handler: a correct copy or a classified failure."""

from __future__ import annotations

from pathlib import Path

import images
import pytest
from harness import LambdaContext, s3_event, sample_event

pytestmark = pytest.mark.corpus

# Files that must fail, and the words their reason must contain.
MUST_FAIL = {
    "giant-image.jpg": "is 20000x14000 (280 MP); limit is 100 MP (MAX_INPUT_PIXELS)",
    "65536-uint32-limit.png": "is 65536x65536 (4294.9 MP); limit is 100 MP",
    "truncated.jpg": "could not be decoded",
    "truncated.png": "could not be decoded",
    "corrupt-header.jpg": "not an image in a supported format",
    "check.svg": "not an image in a supported format",
    "relax.jp2": "not an image in a supported format",
}
CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "avif": "image/avif",
}


def test_every_corpus_file_ends_in_a_correct_copy_or_a_classified_failure(
    corpus: Path, s3, bucket, load_handler
):
    files = sorted(p for p in (corpus / "fixtures").iterdir() if p.is_file())
    files += sorted((corpus / "photos").glob("*.jpg"))
    for path in files:
        s3.upload_file(str(path), bucket, f"images/{path.parent.name}/{path.name}")
    # Some files share a name but for their extension (animated-loop-3.gif and .webp):
    # under the default template they are two sources for one manifest key, and the
    # later one is refused (tests/integration/test_identity.py). Here every file is to be
    # made, so the keys name the source's extension too, as that refusal advises.
    handler = load_handler(
        OBJECT_CONCURRENCY="2",
        OUTPUT_KEY_TEMPLATE="{prefix}{dir}{stem}-{source_ext}-{width}.{ext}",
        MANIFEST_KEY_TEMPLATE="{prefix}{dir}{stem}-{source_ext}.json",
    )

    result = handler.handler(
        s3_event(bucket, [f"images/{p.parent.name}/{p.name}" for p in files]), LambdaContext()
    )

    by_name = {Path(r["key"]).name: r for r in result["results"]}
    assert len(by_name) == len(files)
    for name, outcome in by_name.items():
        if name in MUST_FAIL:
            assert outcome["status"] == "failed", name
            assert MUST_FAIL[name] in outcome["reason"], (name, outcome["reason"])
            assert "retryable" not in outcome
            continue
        assert outcome["status"] == "processed", (name, outcome.get("reason"))
        widths = [o["width"] for o in outcome["outputs"]]
        assert widths == sorted(widths) and widths[0] <= 300 and widths[-1] <= 900, name
        extension = name.rsplit(".", 1)[-1].lower()
        expected_type = CONTENT_TYPES.get(extension, "image/jpeg")  # TIFF etc. become JPEG
        assert {o["contentType"] for o in outcome["outputs"]} == {expected_type}, name

    for kind, size in (("Landscape", (300, 225)), ("Portrait", (300, 400))):
        for n in range(1, 9):
            outputs = by_name[f"{kind}_{n}.jpg"]["outputs"]
            assert (outputs[0]["width"], outputs[0]["height"]) == size, f"{kind}_{n}"


def test_a_20_megapixel_photo_becomes_three_upright_jpegs(corpus: Path, s3, bucket, load_handler):
    photo = corpus / "photos" / "Kleiber_by_Lukas_Baubkus.jpg"
    s3.upload_file(str(photo), bucket, "images/2024/cat.jpg")
    handler = load_handler()

    result = handler.handler(sample_event("s3-put-plain.json", bucket), LambdaContext())

    assert [(o["key"], o["width"], o["height"]) for o in result["results"][0]["outputs"]] == [
        ("copy/2024/cat-300.jpg", 300, 169),
        ("copy/2024/cat-600.jpg", 600, 338),
        ("copy/2024/cat-900.jpg", 900, 506),
    ]
    body = s3.get_object(Bucket=bucket, Key="copy/2024/cat-900.jpg")
    assert body["ContentType"] == "image/jpeg"
    decoded = images.load(body["Body"].read())
    assert (decoded.width, decoded.height, decoded.interpretation) == (900, 506, "srgb")
