"""Transform data component."""
