"""The backfill's pure parts: manifest encoding, task events, report rows, progress."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import events
from app.config import settings as config
from tools.backfill import objects, report, summary, tasks
from tools.backfill.progress import Progress

KEYS = ["images/a b.jpg", "images/a+b.jpg", 'images/é,"x".png', "images/100%.jpg", "images/~"]


@given(st.lists(st.text(min_size=1).map(lambda t: "images/" + t), max_size=5))
def test_a_manifest_line_and_a_task_event_carry_any_key_to_the_function_unchanged(
    keys: list[str],
) -> None:
    assert [k for _, k, _ in objects.from_csv(objects.to_csv("b", keys))] == keys
    for key in keys:
        # The function decodes s3Key with unquote_plus: a '+' must arrive as %2B.
        [ref] = events.parse(tasks.event("job", "b", key)).refs
        assert (ref.bucket, ref.key) == ("b", key)


def test_manifest_keys_are_percent_encoded_as_batch_operations_requires() -> None:
    assert objects.to_csv("b", KEYS).decode().splitlines() == [
        "b,images/a%20b.jpg",
        "b,images/a%2Bb.jpg",
        "b,images/%C3%A9%2C%22x%22.png",
        "b,images/100%25.jpg",
        "b,images/~",
    ]


def test_the_functions_skip_rule_leaves_keys_out_of_the_manifest() -> None:
    settings = config.load({})
    chosen = objects.select(
        ["images/a.jpg", "images/dir/", "copy/a-300.jpg", "other/x.jpg", "images/b.png"],
        "b",
        "",
        settings,
    )
    assert chosen.keys == ["images/a.jpg", "images/b.png"]
    assert chosen.left_out == {
        "folder markers": 1,
        "under the output prefix (the function's own copies)": 1,
        "not under the source prefix 'images/'": 1,
    }


def test_report_rows_in_aws_documented_layout_become_failures() -> None:
    # The row of AWS's own example (batch-ops-examples-reports), code after the status.
    row = (
        'awsexamplebucket1,image_14975,,failed,200,PermanentFailure,"Lambda returned function '
        'error: {""errorMessage"":""Task timed out after 3.00 seconds""}"\n'
        "b,images/my%20photo%2B1.jpg,,failed,PermanentFailure,200,"
        '"s3://b/images/my photo+1.jpg is not an image, sorry"\n'
        "b,images/ok.jpg,,succeeded,,200,wrote 3 copies\n"
    )
    [timeout, bad] = report.rows(row)
    assert timeout == tasks.Result(
        "image_14975",
        "failed",
        'Lambda returned function error: {"errorMessage":"Task timed out after 3.00 seconds"}',
    )
    assert (bad.key, bad.kind) == ("images/my photo+1.jpg", "failed")
    assert summary.reason_of(bad, "b") == "<object> is not an image, sorry"


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        ("Succeeded", "wrote 3 copies", "made"),
        ("Succeeded", 'up to date: every copy already exists for ETag "abc"', "up to date"),
        ("Succeeded", "key ends in '/': a folder marker", "skipped"),
        ("PermanentFailure", "s3://b/k is empty (0 bytes)", "failed"),
        ("TemporaryFailure", "throttled", "failed"),
    ],
)
def test_results_are_counted_by_what_the_function_said(code: str, text: str, kind: str) -> None:
    reply = {"results": [{"taskId": "t", "resultCode": code, "resultString": text}]}
    result = tasks.result("k", reply)
    assert (result.kind, result.retry) == (kind, code == "TemporaryFailure")


def test_failures_group_by_reason_with_a_few_keys_each() -> None:
    results = [
        tasks.Result(f"images/{i}.txt", "failed", f"s3://b/images/{i}.txt is not an image")
        for i in range(5)
    ] + [tasks.Result("images/x.jpg", "made", "wrote 3 copies")]
    text = summary.render(results, "b", objects.Selection().left_out)
    assert text.splitlines() == [
        "Done: 6 objects: 1 made, 0 skipped as up to date, 0 skipped, 5 failed",
        "Failed, by reason:",
        "  5 x <object> is not an image",
        "      images/0.txt, images/1.txt, images/2.txt (and 2 more)",
    ]


def test_progress_on_a_terminal_redraws_one_line_with_a_bar_and_an_eta() -> None:
    out = io.StringIO()
    progress = Progress(out, 4, tty=True)
    for done in range(1, 5):
        progress.update(done, failed=done // 4)
    progress.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 4 and out.getvalue().endswith("\n")
    assert re.match(r"\[#{8}-{22}\] 1/4 tasks \(0 failed\)  [\d.]+/s  ETA 0:\d\d:\d\d", frames[0])
    assert re.match(r"\[#{30}\] 4/4 tasks \(1 failed\)  [\d.]+/s  took 0:\d\d:\d\d", frames[3])


def test_progress_elsewhere_prints_about_twenty_lines_however_many_tasks() -> None:
    out = io.StringIO()
    progress = Progress(out, 1000, tty=False)
    for done in range(1, 1001):
        progress.update(done, failed=0)
    lines = out.getvalue().splitlines()
    assert 20 <= len(lines) <= 21 and "\r" not in out.getvalue()
    assert lines[-1].startswith("[" + "#" * 30 + "] 1000/1000 tasks")
