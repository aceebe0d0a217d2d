"""Tests of the {{name}} component's entrypoint."""

import pytest
from {{name}} import main as component


def test_writes_the_message_repeated(tmp_path):
    text, length = tmp_path / "out" / "text", tmp_path / "out" / "length"
    component.main(
        ["--message", "hi", "--repeat", "3", "--text", str(text), "--length", str(length)]
    )
    assert text.read_text() == "hi\nhi\nhi\n"
    assert length.read_text() == "9"


def test_rejects_a_repeat_below_one():
    with pytest.raises(ValueError, match="--repeat"):
        component.run("hi", 0)
