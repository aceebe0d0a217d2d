"""Tests of the word_count component's entrypoint."""

import json

import pytest
from word_count import main as component


def test_counts_lines_words_and_characters(tmp_path):
    source = tmp_path / "text"
    source.write_text("hello mlops\nhello kubeflow pipelines\n")
    words, summary = tmp_path / "out" / "words", tmp_path / "out" / "summary"
    component.main(["--text", str(source), "--words", str(words), "--summary", str(summary)])
    assert words.read_text() == "5"
    assert json.loads(summary.read_text()) == {"lines": 2, "words": 5, "characters": 37}


def test_min_length_skips_short_words():
    assert component.count("a bb ccc", min_length=2)["words"] == 2


def test_a_missing_input_names_the_path(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        component.main(["--text", str(tmp_path / "nope"), "--words", "w", "--summary", "s"])
