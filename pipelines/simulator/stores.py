"""The two simulated datasets (see `pexip_store` and `valomnia_store`)."""

from .pexip_store import PexipStore
from .store import Store
from .valomnia_store import ValomniaStore

__all__ = ["PexipStore", "Store", "ValomniaStore"]
