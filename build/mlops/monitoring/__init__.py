"""The served model watched: live metrics, the degradation trigger, `make status`."""
