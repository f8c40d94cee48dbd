"""Trainer: fine-tune and train PixWizard on one CPU or many GPUs (DDP, FSDP2 via torchrun)."""
