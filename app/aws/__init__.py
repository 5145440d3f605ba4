"""The AWS edges: S3 reads and writes, EventBridge events, deadlines for network calls."""
