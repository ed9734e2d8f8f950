"""The base of the generated models: strict about keys, and one way to get the wire form."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """A model that is sent on the wire under its aliases (the schema's names)."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        protected_namespaces=(),
        # A field value must never show up in a log line by accident.
        hide_input_in_errors=True,
        # item.enrichment.call_duration = 2**40 is refused where it is written, not
        # sent: a model is sent as it is, without being checked again.
        validate_assignment=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The exact JSON-ready mapping sent on the wire (unset optional fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
