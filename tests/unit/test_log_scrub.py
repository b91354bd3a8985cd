"""The log formatters' last line of defence: secrets a library put into a message."""

from __future__ import annotations

import pytest

from scheduler.logs import scrub


@pytest.mark.parametrize(
    "line",
    [
        "Authorization: Bearer tok-0123456789abcdef",
        "Authorization: BEARER tok-0123456789abcdef",
        "header authorization: bearer tok-0123456789abcdef",
        "secret whsec_c2VjcmV0LXRoYXQtaXMtbG9uZw== in a row",
        "GET https://hooks.example/a?token=tok-0123456789abcdef failed",
        "DETAIL: Failing row contains (abc, tok-0123456789abcdef, x).",
    ],
)
def test_secrets_are_hidden_whatever_their_case(line: str) -> None:
    assert "tok-0123456789abcdef" not in scrub(line)
    assert "c2VjcmV0LXRoYXQtaXMtbG9uZw" not in scrub(line)


def test_ordinary_lines_are_left_alone() -> None:
    line = "delivery msg_1 attempt 1 to https://hooks.example/a: 200"
    assert scrub(line) == line
