"""Benchmarks: the pipeline against its peers and the physical limit (`python -m bench`)."""
