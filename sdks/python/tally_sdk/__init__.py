"""Tally's Python SDK: capture events without ever blocking or raising."""

from .client import Client

__all__ = ["Client"]
__version__ = "0.1.0"
