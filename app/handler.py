"""Lambda entry point: parse the event, run the pipeline per object, shape the reply.

Everything that can be prepared once is prepared at import (cold start):
the configuration's profiles (app/config/profiles.py: a bad renditions.toml or environment
stops here, reported as an init error),
libvips, the S3 clients, the logger and the metrics. An object created is resized
(app/renditions/pipeline.py), one removed loses its copies (app/renditions/removal.py);
with EVENT_BUS_NAME set, applications then hear how each ended (app/aws/notify.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import boto3
from aws_lambda_powertools import Logger, Metrics
from botocore.config import Config

from app import events, observe, reply
from app.aws import deadline
from app.aws.storage import S3Store
from app.config import profiles
from app.errors import TransientError
from app.image import imaging
from app.image.memory import MemoryBudget
from app.model import ObjectRef, Outcome
from app.renditions import copies, pipeline

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

    from app.aws.notify import Publisher

configuration = profiles.load(os.environ)
settings = configuration.default  # the global settings are every profile's
imaging.configure_libvips()
logger = Logger(service="image-resizer", level=settings.log_level)
budget = MemoryBudget.for_lambda(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"))
metrics = Metrics(namespace=settings.metrics_namespace)
metrics.set_default_dimensions(FunctionName=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local"))
_cold_start = True
_session = boto3.session.Session()
_base = Config(
    # One connection for each request that can run at once (a delete's too: renditions/sweep.py).
    max_pool_connections=settings.object_concurrency
    * max(copies.connections(p) for p in configuration.profiles.values()),
)
# One client per timeout setting, chosen by the time left at each call (app/aws/deadline.py).
clients = deadline.Clients(lambda config: _session.client("s3", config=_base.merge(config)))
clients.get(deadline.LADDER[0])  # loads S3's service model now: later clients take ~20 ms
store = S3Store(clients)
publisher: Publisher | None = None
if settings.event_bus:  # only then is app.aws.notify loaded: most cold starts need none of it
    from app.aws import notify

    publisher = notify.Publisher(
        lambda config: _session.client("events", config=config), settings.event_bus
    )


@metrics.log_metrics  # one EMF document per invocation, flushed even when it raises
@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Resize every object the event names; raise only what Lambda should retry."""
    try:
        parsed = events.parse(event)
    except Exception:
        _record([])  # the invocation still counts (cold start, zero objects)
        raise
    for message in parsed.messages:
        for reason in message.ignored:
            logger.info("ignored", extra={"reason": reason})
        for reason in message.errors:  # each a permanent failure, counted with the objects'
            logger.error("unreadable record", extra={"reason": reason, "messageId": message.id})

    refs = parsed.refs
    # Objects still running at `stop` are reported as retryable, never waited for.
    stop, until = deadline.plan(context.get_remaining_time_in_millis())
    bound, span = store.until(until), until - time.monotonic()  # span: all it can ever have
    flat = deadline.map_until(
        lambda ref: _work(ref)(ref, configuration, bound, until, budget, span),
        refs,
        settings.object_concurrency,
        stop,
        pipeline.unfinished,
        pipeline.unstarted,
    )
    for outcome in flat:
        _log(outcome)
    _record(flat, unreadable=sum(len(message.errors) for message in parsed.messages))
    if publisher is not None:  # within the reserve kept after `stop`
        undelivered = publisher.publish(flat, stop + deadline.RESERVE_S / 2)
        for reason in undelivered:
            logger.error("application event not delivered", extra={"reason": reason})
        metrics.add_metric(*observe.events_failed(len(undelivered)))

    # `refs` lists each message's objects in order: hand the outcomes back the same way.
    in_order = iter(flat)
    grouped = [(message, [next(in_order) for _ in message.refs]) for message in parsed.messages]

    result = reply.build(parsed, grouped)
    again = reply.retryable(grouped)
    if again and parsed.source not in ("sqs", "batch"):
        # Raised only now, after every other object is done, so that Lambda
        # retries the event; outputs are deterministic, so a retry is harmless.
        raise TransientError(
            f"{len(again)} of {len(flat)} objects failed transiently and "
            f"will be retried: " + "; ".join(str(o.reason) for o in again)
        )
    return result


def _work(ref: ObjectRef) -> Callable[..., Outcome]:
    """What an object's event asks for: its copies made, or removed with it."""
    if ref.action != "remove":
        return pipeline.process
    from app.renditions import removal  # here: loaded by the first removal, not at cold start

    return removal.remove


def _record(outcomes: list[Outcome], unreadable: int = 0) -> None:
    global _cold_start  # once per execution environment, as Lambda counts cold starts
    if _cold_start:
        metrics.add_metric(name="ColdStart", unit="Count", value=1)
        _cold_start = False
    for name, unit, value in observe.metrics_of(outcomes, unreadable):
        metrics.add_metric(name=name, unit=unit, value=value)


def _log(outcome: Outcome) -> None:
    fields = {**outcome.as_dict(), **outcome.details}
    if outcome.status == "failed":
        logger.warning(f"object {outcome.status}", extra=fields)
    else:
        logger.info(f"object {outcome.status}", extra=fields)
