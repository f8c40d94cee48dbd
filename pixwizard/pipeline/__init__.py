"""Inference pipeline: encoders, flow-matching samplers, guidance and any-resolution sampling."""
