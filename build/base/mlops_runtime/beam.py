"""Beam pipeline options for the components: the same image runs on the DirectRunner here
(multi-processing over the machine's cores by default) and on Dataflow at scale."""

from __future__ import annotations

import json
import shlex

DEFAULT_ARGS = [
    "--runner=DirectRunner",
    "--direct_running_mode=multi_processing",
    "--direct_num_workers=0",  # 0: one worker per core
]


def parse_beam_args(value: str | None) -> list[str]:
    """A JSON list or a shell-quoted string of Beam flags; empty means the defaults."""
    if not value or not value.strip():
        return list(DEFAULT_ARGS)
    value = value.strip()
    if value.startswith("["):
        args = json.loads(value)
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"beam args {value!r}: a JSON list must hold strings")
        return args
    return shlex.split(value)


def pipeline_options(value: str | None):
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(parse_beam_args(value))
