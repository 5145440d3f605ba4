"""The exception tree: what can go wrong, and whether retrying can help.

ResizerError
├── ConfigError          the environment is invalid; the cold start stops
├── EventError           the event has no shape this function knows
├── PermanentError       retrying cannot help: reported as `failed`, never raised
│   ├── InputTooLarge    over MAX_INPUT_BYTES or MAX_INPUT_PIXELS
│   ├── BadImage         not an image, corrupt, truncated or a blocked format
│   └── AccessDenied     the function's role lacks a permission
├── TransientError       retrying may help (throttling, network, deadline)
│   └── WriteLost        a conditional write found its key changed since it was read
└── Skip                 not a failure: nothing to do, the reason says why
    └── ObjectGone       deleted before it was read
"""

from __future__ import annotations


class ResizerError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(ResizerError):
    """The configuration is invalid; `problems` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            f"invalid configuration ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}): " + "; ".join(problems)
        )


class EventError(ResizerError):
    """The event is not one of the supported shapes."""


class PermanentError(ResizerError):
    """Processing this object can never succeed; report it and move on."""


class InputTooLarge(PermanentError):
    """The object is over a configured size limit."""


class BadImage(PermanentError):
    """The bytes are not a decodable image of an allowed format."""


class AccessDenied(PermanentError):
    """S3 refused a call; the message names the permission and resource."""


class TransientError(ResizerError):
    """A failure that a later attempt may not meet; Lambda should retry."""


class WriteLost(TransientError):
    """A conditional PUT found its key changed since it was read (another attempt wrote it)."""


class Skip(ResizerError):
    """Nothing to do for this object (a copy of ours, outside the prefix, gone)."""


class ObjectGone(Skip):
    """The object no longer exists (deleted before it was processed)."""
