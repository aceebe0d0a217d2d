"""{{title}}: the component's entrypoint. `build_parser` is its command-line interface, which
`make lint` checks against component.yaml; `run` is the pure work, testable without KFP."""

from __future__ import annotations

import argparse
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--message", required=True, help="The text to write.")
    parser.add_argument("--repeat", type=int, default=1, help="How many times to write it.")
    parser.add_argument("--text", required=True, help="Output path of the text artifact.")
    parser.add_argument("--length", required=True, help="Output path of the length.")
    return parser


def run(message: str, repeat: int) -> str:
    if repeat < 1:
        raise ValueError(f"--repeat must be at least 1, got {repeat}")
    return "".join(f"{message}\n" for _ in range(repeat))


def write(path: str, content: str) -> None:
    # KFP hands out output paths whose folders may not exist yet.
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(content)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    text = run(args.message, args.repeat)
    write(args.text, text)
    write(args.length, str(len(text)))
    print(f"wrote {len(text)} characters to {args.text}")


if __name__ == "__main__":
    main()
