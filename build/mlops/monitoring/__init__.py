"""The served model watched: live metrics, degradation, the canary analysis, `make status`."""
