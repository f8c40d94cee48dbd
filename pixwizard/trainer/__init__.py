"""Trainer: fine-tune and train PixWizard on one CPU or many GPUs (Trainer issue)."""
