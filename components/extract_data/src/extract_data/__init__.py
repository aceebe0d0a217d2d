"""Extract data component."""
