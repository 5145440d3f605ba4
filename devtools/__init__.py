"""Local tooling (not shipped in the image): a local S3 API, a Lambda Runtime API emulator."""
