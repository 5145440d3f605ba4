"""SHA-256 as hashlib gives it, without loading OpenSSL to hash a few short texts."""

from __future__ import annotations

__all__ = ["LONG", "sha256", "sha256_digest"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (docs/development.md)
if TYPE_CHECKING:
    from hashlib import sha256
else:
    # `import hashlib` loads OpenSSL's libcrypto and sets up every algorithm it has (about
    # 11 M instructions, a few ms) where the command hashes only a source key, a recipe,
    # renditions.toml and a colour profile. _sha2 is CPython's built-in SHA-256, the one
    # hashlib itself falls back to without OpenSSL: the same digest, loaded for a hundredth
    # of that. An interpreter without it takes hashlib's.
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

# Past this many bytes OpenSSL's SHA-256 earns its loading: it hashes ten times faster
# where the CPU has SHA instructions, and 256 KB cost the built-in about as long (2 ms) as
# `import hashlib` does once. On the function's path botocore has loaded hashlib anyway.
LONG = 256 * 1024


def sha256_digest(data: bytes) -> bytes:
    """The SHA-256 digest of `data`, which may be megabytes long (a colour profile)."""
    if len(data) <= LONG:
        return sha256(data).digest()
    import hashlib  # loaded only once something long comes to be hashed

    return hashlib.sha256(data).digest()
