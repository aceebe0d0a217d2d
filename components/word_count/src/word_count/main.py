"""Word count: counts the lines, words and characters of a text artifact. `build_parser` is
the command-line interface that `make lint` checks against component.yaml."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--text", required=True, help="Path of the text to count.")
    parser.add_argument("--min-length", type=int, default=1, help="Only count words this long.")
    parser.add_argument("--words", required=True, help="Output path of the word count.")
    parser.add_argument("--summary", required=True, help="Output path of the JSON summary.")
    return parser


def count(text: str, min_length: int = 1) -> dict[str, int]:
    return {
        "lines": len(text.splitlines()),
        "words": sum(len(word) >= min_length for word in text.split()),
        "characters": len(text),
    }


def write(path: str, content: str) -> None:
    # KFP hands out output paths whose folders may not exist yet.
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(content)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    source = Path(args.text)
    if not source.is_file():
        raise SystemExit(f"--text {source}: no such file")
    summary = count(source.read_text(), args.min_length)
    write(args.words, str(summary["words"]))
    write(args.summary, json.dumps(summary, indent=2) + "\n")
    print(f"{source}: {summary}")


if __name__ == "__main__":
    main()
