"""A local simulator of the Pexip Engage and Valomnia appointment APIs.

Why: the syncs must be tested against APIs that page, filter, fail and change data the way
the real ones do, offline and reproducibly. `Simulator` runs both APIs on one local HTTP
server with seeded data (up to 1,000,000 appointments per source), lets tests mutate data
and inject faults while a sync runs, and `serve` runs it for `apptsync simulate`.
"""

from .faults import Faults
from .simulator import Simulator, serve
from .stores import PexipStore, ValomniaStore

__all__ = ["Faults", "PexipStore", "Simulator", "ValomniaStore", "serve"]
