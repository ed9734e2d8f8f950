"""enrichgen: typed Python clients for the Contentsquare Enrichment API, generated from an
integration schema."""

__version__ = "0.2.0"
