"""The read-only web UI (`make ui`): runs, steps, artifacts, models and trigger decisions."""
