#!/usr/bin/env bash
# The main job locally, on embedded defaults: a local S3 API on 127.0.0.1:4566 and the
# function behind a Lambda Runtime API emulator on 127.0.0.1:9000. No AWS account.
# Ports: S3_PORT=... LAMBDA_PORT=... scripts/local.sh   Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec .venv/bin/python -m devtools.stack "$@"
