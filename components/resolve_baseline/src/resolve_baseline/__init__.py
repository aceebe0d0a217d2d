"""Resolve baseline component: the model registry's stable version, as a Model artifact."""
