"""Backfill: make the copies of objects that existed before the function was deployed.

Two engines run the same tasks (S3 Batch Operations schema 2.0 events, one object each):

    objects.py   which objects: a paginated listing or an S3 Inventory report, filtered
                 by the function's own skip rules; the CSV manifest Batch Operations reads
    local.py     --local: the tasks through app.handler.handler on this machine
    aws.py       a Batch Operations job (its role, its manifest, its report) in AWS
    report.py    the job's completion report: the failed tasks and their messages
    calls.py     every AWS call printed as it could be typed; --dry-run runs none that change
    progress.py  tasks done and failed, a bar, an ETA; one line at a time when not a TTY
    summary.py   the results counted, and failures grouped by reason
"""


class Refused(Exception):
    """An input or a state that stops the backfill before it changes anything (exit 2)."""
