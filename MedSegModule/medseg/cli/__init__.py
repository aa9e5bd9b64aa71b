"""The ``medseg`` command line: the parser and entry point (``main``), one module per command group."""

from .main import main

__all__ = ["main"]
