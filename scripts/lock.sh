#!/usr/bin/env bash
# Re-resolve the pinned, hashed requirement locks from pyproject.toml.
# The locks carry versions and hashes only (no index addresses), for every
# platform the image and the developers use (--universal).
set -euo pipefail
cd "$(dirname "$0")/.."
common=(--universal --generate-hashes --python-version 3.11 --quiet)
uv pip compile pyproject.toml "${common[@]}" -o requirements/runtime.txt
uv pip compile pyproject.toml "${common[@]}" --group dev -o requirements/dev.txt
