"""{{title}} component."""
