"""Platforms: real systems a channel or the ERP can behave like, one module each.

Each module (``shopify``, ``adobe_commerce``, ``bigcommerce``, ``amazon``, ``netsuite``,
``dynamics``; ``generic`` for the plain channel and ERP) holds everything about its platform:
the preset model (parameters defaulting to the platform's documented values, DESIGN §6, and
what its API is), the semantics (a ``Channel`` subclass) and its HTTP shape (the facade's
routes), and ends with ``PLATFORM``, the ``base.Platform`` that ties them together. The
registry (``registry``) finds them by name through the ``syncsim.platforms`` entry-point
group; adding a platform is one module plus one entry point (or ``register_platform``).
"""

from mocks.platforms.base import Platform
from mocks.platforms.registry import (
    platform,
    platform_for,
    platforms,
    register_platform,
    unregister_platform,
)

__all__ = [
    "Platform",
    "platform",
    "platform_for",
    "platforms",
    "register_platform",
    "unregister_platform",
]
