"""parse_shape: every accepted spelling, and one clear line for every refused one."""

from __future__ import annotations

import pytest

from initcli.errors import EXIT_BAD_USAGE, InitcliError
from initcli.shape_strings import parse_shape


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("64,3,7,7", (64, 3, 7, 7)),
        ("64x3x7x7", (64, 3, 7, 7)),
        ("64X3", (64, 3)),
        ("(64, 3, 7, 7)", (64, 3, 7, 7)),
        ("[64,3]", (64, 3)),
        ("64 3 7", (64, 3, 7)),
        ("(64,)", (64,)),
        (" 5 ", (5,)),
        ("256 , 128", (256, 128)),
    ],
)
def test_accepted_spellings(text: str, shape: tuple[int, ...]) -> None:
    assert parse_shape(text) == shape


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("64,x,7", "'x'"),
        ("0,3", "size 0"),
        ("-1", "'-1'"),
        ("3.5", "'3.5'"),
        ("1e3", "'1e3'"),
        ("64;3", "'64;3'"),
        ("64,,7", "empty size"),
        ("", "empty"),
        ("()", "empty"),
    ],
)
def test_refused_with_one_line_naming_the_piece(text: str, piece: str) -> None:
    with pytest.raises(InitcliError) as info:
        parse_shape(text, "--shape")
    message = info.value.message
    assert info.value.exit_code == EXIT_BAD_USAGE
    assert "\n" not in message
    assert message.startswith(f"--shape {text!r}")
    assert piece in message


def test_empty_only_when_allowed() -> None:
    assert parse_shape("", allow_empty=True) == ()
    assert parse_shape("()", allow_empty=True) == ()


def test_source_is_named() -> None:
    with pytest.raises(InitcliError, match=r"^layers\[2\]\.shape 'a,b'"):
        parse_shape("a,b", "layers[2].shape")
