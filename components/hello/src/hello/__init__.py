"""Hello component."""
