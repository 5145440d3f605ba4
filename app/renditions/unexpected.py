"""An error no step classified, made one object's outcome: failed, and whether a retry may help.

Every step raises the errors of app/errors.py for what it knows; anything else (a
`pyvips.Error` from an encoder, a `ValueError`, a thread that cannot start) would
otherwise leave the handler and fail the whole batch, with no metric, log line or
event for the object. Here it becomes that object's outcome like any other.
"""

from __future__ import annotations

import pyvips

from app.image import loaders
from app.model import ObjectRef, Outcome

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from typing import Any

# Unexpected errors that another attempt may not meet: memory another object held, the
# network or a file (OSError: ConnectionError, TimeoutError). Anything else (pyvips.Error
# from an encoder, a ValueError, a thread that cannot start) meets the same bytes again.
_MAY_PASS = (MemoryError, OSError)


def unexpected(ref: ObjectRef, error: Exception, details: dict[str, Any]) -> Outcome:
    """The outcome of an error no step classified: failed, retryable only if it may pass,
    with the error's type in `details` for the log."""
    text = loaders.why(error) if isinstance(error, pyvips.Error) else str(error)
    kind = type(error).__name__
    details["error_type"] = f"{type(error).__module__}.{type(error).__qualname__}"
    if isinstance(error, _MAY_PASS):
        return Outcome(
            ref,
            "failed",
            f"{ref.uri} failed unexpectedly ({kind}: {text}); left for a retry",
            retryable=True,
            details=details,
        )
    return Outcome(
        ref,
        "failed",
        f"{ref.uri} failed unexpectedly ({kind}: {text}); not retried",
        details=details,
    )
