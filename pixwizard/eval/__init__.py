"""Evaluation: parity with the official model, and (later) task metrics."""
