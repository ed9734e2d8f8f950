"""A local stand-in for Contentsquare's token and enrichment endpoints (``enrichgen sandbox``).

Its parts, in file names: ``checks`` (the API's rules for a request body), ``store``
(SQLite, last write wins), ``tokens`` (JWTs), ``faults`` (what can go wrong, seeded), ``app``
(the endpoints, which use all four) and ``server`` (uvicorn on loopback).
"""

from generator.sandbox.faults import FaultSettings
from generator.sandbox.server import Sandbox, SandboxError, SandboxOptionError

__all__ = ["FaultSettings", "Sandbox", "SandboxError", "SandboxOptionError"]
