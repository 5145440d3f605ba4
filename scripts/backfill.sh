#!/usr/bin/env bash
# Make the copies of objects that were in the bucket before the function was deployed.
#   scripts/backfill.sh --bucket NAME [--prefix PREFIX] [options]          S3 Batch Operations job
#   scripts/backfill.sh --bucket NAME [--prefix PREFIX] --local [options]  on this machine
#
# Both send each object to the function as an S3 Batch Operations task (schema 2.0), show
# tasks done and failed with a bar and an ETA, then print a summary with the failures
# grouped by reason; exit status 1 if any object failed, 2 for a bad input. Safe to run
# again: objects whose copies are up to date are skipped after a few HEADs.
#
# Options:
#   --bucket NAME          the source bucket (required)
#   --prefix PREFIX        objects under PREFIX (default: the function's SOURCE_PREFIX)
#   --inventory S3URI      read the keys from this S3 Inventory report's manifest.json
#                          (CSV format) instead of listing the bucket
#   --local                run app.handler.handler in this process, against the S3 endpoint
#                          configured (AWS_ENDPOINT_URL: the stack of scripts/local.sh, or
#                          AWS); the function's variables (RESIZE_WIDTHS, ...) apply
#   --concurrency N        --local: objects at once (default 4)
#   --retries N            --local: tries again after a TemporaryFailure (default 2)
#   --timeout SECONDS      --local: each invocation's deadline (default 60)
#   --log-file PATH        --local: append the function's JSON logs there (default: none)
#   --function-name NAME   the deployed function (default image-resizer)
#   --region REGION        default: the AWS configuration's region
#   --report-bucket NAME   bucket for the manifest and the completion report, under
#                          backfill/ (default: --bucket)
#   --poll SECONDS         time between describe-job calls (default 10)
#   --no-wait              create the job, print its id and return
#   --dry-run              print every AWS call and change nothing; with no AWS access
#                          (no credentials or network) the plan has <placeholders>
#   -h, --help             this text
set -euo pipefail
for arg in "$@"; do
  if [ "$arg" = -h ] || [ "$arg" = --help ]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | cut -c3-
    exit 0
  fi
done
here="$PWD"  # relative paths in the arguments (--log-file) are the caller's
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/setup.sh
source "$root/scripts/setup.sh"
cd "$here"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$root/.venv/bin/python" -m tools.backfill "$@"
