"""What every concern shares: errors, settings.yaml, the commit, the compiled package."""
