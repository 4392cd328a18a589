"""The forecasting workload: data (Solar, Wind), models (DMixer, S5) and the training loop."""
