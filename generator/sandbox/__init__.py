"""A local stand-in for Contentsquare's token and enrichment endpoints (``enrichgen sandbox``).

Its parts, in file names: ``checks`` (the API's rules for a request body), ``versions`` (the
integration versions served), ``store`` (SQLite, last write wins), ``tokens`` (JWTs),
``faults`` (what can go wrong, seeded), ``bodies`` (reading a body with a cap and a
deadline), ``hosts`` (loopback only, the ``Host`` check), ``app`` (the endpoints, which use
them), ``connections`` (uvicorn's protocol without Nagle delay or endless waits), ``listener`` (the
accept loop, which pauses when out of file descriptors), ``server`` (uvicorn on loopback) and
``banner`` (what the command prints).
"""

from generator.sandbox.faults import FaultSettings
from generator.sandbox.server import Sandbox, SandboxError, SandboxOptionError

__all__ = ["FaultSettings", "Sandbox", "SandboxError", "SandboxOptionError"]
