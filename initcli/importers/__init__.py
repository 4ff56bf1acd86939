"""Bring a user's own model into initcli: a Keras model config, or a PyTorch module."""
