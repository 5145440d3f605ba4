"""The handler's cold start loads only what every event needs; the rest waits for its event.

Issue 17 holds the handler's import and initialisation within 1.15x of boto3 + pyvips +
one S3 client (bench/extras.py measures it). These pin the savings that are easy to lose
with one import line: each module below is loaded by the first event that needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devtools.s3server import FAKE_AWS_ENV

ROOT = Path(__file__).resolve().parents[2]

LAZY = {
    "app.renditions.removal": "only an object removed needs it",
    "app.renditions.sweep": "only an event that removes copies needs it (a removed source, "
    "a source refused with copies, a change of format)",
    "app.aws.notify": "only a function with EVENT_BUS_NAME needs it",
    "app.image.heic": "only a HEIC upload needs it (libheif through pillow-heif)",
    "pillow_heif": "only a HEIC upload needs it",
    "tomllib": "the shipped renditions.toml declares nothing (comments alone): only a file "
    "that declares something is parsed",
    "ctypes.util": "its find_library runs ldconfig in a subprocess",
}


def _loaded_by_handler_import(**env: str) -> set[str]:
    """The modules a fresh interpreter holds after `import app.handler`."""
    code = "import json, sys; import app.handler; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **FAKE_AWS_ENV, "PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_importing_the_handler_leaves_every_lazy_module_unloaded() -> None:
    loaded = _loaded_by_handler_import()

    assert "app.renditions.pipeline" in loaded  # the import did run
    early = {name: why for name, why in LAZY.items() if name in loaded}
    assert not early, f"loaded at cold start, though {early}"


def test_a_function_with_an_event_bus_loads_notify_at_cold_start() -> None:
    assert "app.aws.notify" in _loaded_by_handler_import(EVENT_BUS_NAME="apps")


def test_a_file_that_declares_something_is_parsed_at_cold_start(tmp_path: Path) -> None:
    file = tmp_path / "renditions.toml"
    file.write_text("# one setting\n[defaults]\nquality = 80\n")

    assert "tomllib" in _loaded_by_handler_import(RENDITIONS_CONFIG=str(file))


def test_a_function_with_a_memory_size_finds_malloc_trim_at_cold_start() -> None:
    # Every object trims after its work in Lambda: not a cost moved into the first event.
    assert "ctypes" in _loaded_by_handler_import(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1024")
