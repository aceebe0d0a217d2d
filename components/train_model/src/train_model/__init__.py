"""Train model component."""
