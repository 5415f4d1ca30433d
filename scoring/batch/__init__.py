"""Rescoring files at scale: the streaming pandas engine and the Dask engine."""
