"""The ML model: features, the additive calibrated model, training, evaluation, registry,
synthetic data."""
