"""Word count component."""
