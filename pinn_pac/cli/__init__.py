"""The `pinn-pac` command line: thin; it parses, checks every input before any training,
calls the library and prints."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
