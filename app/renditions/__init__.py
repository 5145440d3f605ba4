"""One object's work: keys and identity, decode, copies, manifest, freshness, deletes."""
