"""What every track shares after training: leakage rules, calibration, decision thresholds, metrics, model card."""
