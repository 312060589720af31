"""Repository base class."""

from .base import Repository

__all__ = ["Repository"]
