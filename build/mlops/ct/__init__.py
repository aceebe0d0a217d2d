"""The continuous-training run of `make run`: the CT pipeline, its summary and report."""
