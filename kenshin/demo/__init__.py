"""Synthetic data for a Chiba-sized city (demo-data): `generate(...)`, `NotEmpty`."""
from .city import NotEmpty, generate  # noqa: F401
