"""``parse_session_key``: the browser's ``"<userId>.<sessionNumber>"`` split and checked."""

from __future__ import annotations

from typing import Any

import pytest

from .. import EnrichmentError, InvalidSessionKey, SessionKey, parse_session_key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a1b2c3.7", SessionKey("a1b2c3", 7)),
        ("user.with.dots.12", SessionKey("user.with.dots", 12)),
        (" 0f9e.1 ", SessionKey("0f9e", 1)),
        ("0f9e.1\r\n", SessionKey("0f9e", 1)),
        ("a.2147483647", SessionKey("a", 2147483647)),
        ("a.00000000007", SessionKey("a", 7)),  # leading zeros are no digits more
    ],
)
def test_a_session_key_is_split_at_its_last_dot(key: str, expected: SessionKey) -> None:
    assert parse_session_key(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a1b2c3",
        ".7",
        "a1b2c3.",
        "a1b2c3.0",
        "a1b2c3.-1",
        "a1b2c3.x",
        "a1b2c3.\u0663",
        "a1b2c3.1e3",
        "a1b2c3." + "9" * 16,
        "a1b2c3.2147483648",  # over int32, which sessionNumber is
        "a1b2c3.7\u00a0",  # only ASCII spaces are stripped, as in the browser snippet
        None,
        17,
    ],
)
def test_anything_else_is_refused_without_repeating_the_key(key: Any) -> None:
    with pytest.raises(InvalidSessionKey) as caught:
        parse_session_key(key)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, EnrichmentError)
    if isinstance(key, str) and len(key) > 3:
        assert key not in str(caught.value)
