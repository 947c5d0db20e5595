"""Shared code of the run and status functions: everything but the transport."""

__version__ = "0.1.0"
