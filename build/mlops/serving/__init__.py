"""The local prediction service on the model registry, and promote and rollback."""
