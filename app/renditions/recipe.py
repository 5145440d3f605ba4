"""What a copy is made with beyond its key: one short tag, recorded on every copy.

A copy's key says its size and format; the tag says the rest: the quality, the crop,
the animation rule, what copies carry (COLOUR, HDR, RIGHTS), the encoders' own
settings, the sizes configured (the largest of them, which depends on each image's
shape when boxes are listed, sets the scale the source is decoded at, and so every
copy's pixels) and the output formats (which the manifest lists). The up-to-date check
(app/renditions/freshness.py) trusts a copy only if it carries the tag of the running
configuration, so a change of QUALITY, CROP, ANIMATION, COLOUR, HDR, RIGHTS,
RESIZE_WIDTHS or OUTPUT_FORMATS, or an upgrade that encodes differently, has the copies
made again at the source's next event (or a backfill) instead of keeping the old ones
as they are. With profiles (app/config/profiles.py), each copy carries the tag of the settings
of the profile that made it.
"""

from __future__ import annotations

from app.config.settings import Settings
from app.digest import sha256
from app.image import formats

# Raise when a change of the code makes different copies from the same settings.
VERSION = 1


def tag(settings: Settings) -> str:
    """The recipe of `settings`' copies: 12 hex digits, the same in every process."""
    parts = (
        VERSION,
        settings.quality,
        settings.crop,
        settings.animation,
        settings.colour,
        settings.hdr,
        settings.rights,
        sorted(spec.label for spec in settings.specs),
        # The manifest lists every copy: with a format dropped, the copies left are
        # current but the manifest is not.
        sorted(settings.output_formats),
        formats.WEBP_EFFORT,
        formats.AVIF_EFFORT,
    )
    return sha256(repr(parts).encode()).hexdigest()[:12]
