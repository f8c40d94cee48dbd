"""The exceptions PixWizard raises at its boundaries; each message says how to fix the call."""

from __future__ import annotations


class PixWizardError(Exception):
    """Base class of every error PixWizard raises on purpose."""


class ConfigError(PixWizardError, ValueError):
    """A configuration or argument is invalid."""


class CheckpointError(PixWizardError):
    """Weights are missing, unreadable, or do not match the model they are loaded into."""
