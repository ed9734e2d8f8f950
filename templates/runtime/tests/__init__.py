"""Tests of the generated package; they run offline with ``pytest`` on this directory."""
