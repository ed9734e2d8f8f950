"""The envelope around one enrichment: which session of which user it belongs to.

``EnrichmentItem`` itself is declared in ``integration`` (it holds the schema's
``Enrichment``); the envelope's rules are here, once, for the model and the bulk validator.
"""

from __future__ import annotations

import sys
from typing import Annotated

from pydantic import Field, Strict

from .wire_model import WireModel

if sys.version_info >= (3, 12):
    from typing import NotRequired, TypedDict
else:  # pydantic needs typing_extensions' TypedDict before 3.12 (and depends on it)
    from typing_extensions import NotRequired, TypedDict

UserId = Annotated[str, Strict(), Field(min_length=1)]
SessionNumber = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]
EnrichmentNumber = Annotated[int, Strict(), Field(ge=1, le=3)]

ItemKey = tuple[str, int, int]
"""``(userId, sessionNumber, enrichmentNumber)``: sending a key again replaces the earlier."""


class ItemEnvelope(WireModel):
    """The envelope of an ``EnrichmentItem``: everything but the enrichment itself.

    ``(user_id, session_number, enrichment_number)`` is the key: sending the same key again
    replaces the earlier enrichment. A session holds at most three enrichments.
    """

    user_id: Annotated[UserId, Field(alias="userId")]
    session_number: Annotated[SessionNumber, Field(alias="sessionNumber")]
    enrichment_number: Annotated[EnrichmentNumber, Field(alias="enrichmentNumber")] = 1

    @property
    def key(self) -> ItemKey:
        return (self.user_id, self.session_number, self.enrichment_number)


class ItemEnvelopeWire(TypedDict):
    """The envelope of an item in its wire form (``enrichment`` is added per version)."""

    userId: UserId
    sessionNumber: SessionNumber
    enrichmentNumber: NotRequired[EnrichmentNumber]
