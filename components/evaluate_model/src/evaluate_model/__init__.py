"""evaluate_model: TFMA evaluation of a candidate model against value and change thresholds."""
