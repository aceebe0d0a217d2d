"""The local lineage store: what each run used and produced, and queries over it."""
