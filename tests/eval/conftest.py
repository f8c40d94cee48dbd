"""The tiny-random pipeline, once per test module of the evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny_pipe():
    from pixwizard.pipeline import PixWizardPipeline

    pipe = PixWizardPipeline.from_pretrained("tiny-random")
    pipe.set_progress_bar_config(disable=True)
    return pipe
