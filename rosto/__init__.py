"""Rosto: self-hosted face attribute analysis answering the Rosto.io API."""

__version__ = "0.1.0"
