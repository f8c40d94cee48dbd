"""A workspace with an allowed folder, an allowed output folder and a secret one, and a tool context on it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pixwizard.tools import make_context


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def workspace(tmp_path):
    """``in/`` (allowed, with ``photo.png`` and ``sub/photo.png``), ``out/`` (allowed output), ``secret/``."""
    for name in ("in", "in/sub", "out", "secret"):
        (tmp_path / name).mkdir()
    photo = Image.radial_gradient("L").resize((80, 60)).convert("RGB")
    photo.save(tmp_path / "in" / "photo.png")
    photo.save(tmp_path / "in" / "sub" / "photo.png")
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(tmp_path / "in" / "mask.png")
    # The secret has another size, so a leak is visible in any answer.
    Image.new("RGB", (33, 17), "red").save(tmp_path / "secret" / "photo.png")
    return tmp_path


@pytest.fixture
def ctx(workspace):
    return make_context(
        "tiny-random",
        store_dir=workspace / "store",
        allow_dirs=[workspace / "in"],
        output_dirs=[workspace / "out"],
        device="cpu",
    )


class Flipper:
    """A thread that keeps swapping ``folder`` between a real folder and a symlink to an outside one.

    ``folder.real`` and ``folder.link`` hold the two while they are not in place. ``flips`` counts completed
    swaps and ends with ``"done"`` when the thread stopped cleanly (a crashed flipper would test nothing).
    A loop of fast attempts uses `racing`, so it goes on until the folder has really flipped under it.
    """

    MIN_FLIPS = 20

    def __init__(self, folder, outside):
        import os
        import threading

        self.folder, self.flips = folder, []
        os.rename(folder, f"{folder}.real")
        os.symlink(outside, f"{folder}.link")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        import os
        import shutil
        import time

        while not self._stop.is_set():
            for source in (f"{self.folder}.real", f"{self.folder}.link"):
                try:
                    os.rename(source, self.folder)
                except OSError:  # something created the folder in the gap (an export): it is inside, clear it
                    shutil.rmtree(self.folder, ignore_errors=True)
                    continue
                time.sleep(0.0005)
                os.rename(self.folder, source)
                self.flips.append(source)
        self.flips.append("done")

    def __enter__(self):
        self._thread.start()
        return self

    def racing(self, attempts: int, timeout: float = 60.0):
        """Attempt numbers: at least ``attempts``, then on until more than `MIN_FLIPS` swaps have happened.

        Refused attempts can be quicker than a swap, so a fixed count alone may end before the race began.
        """
        import time

        deadline = time.monotonic() + timeout
        i = 0
        while i < attempts or (len(self.flips) <= self.MIN_FLIPS and time.monotonic() < deadline):
            yield i
            i += 1

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        assert self.flips[-1] == "done" and len(self.flips) > self.MIN_FLIPS, self.flips[-3:]


@pytest.fixture
def flipper():
    """Make a `Flipper` (the class, to be used as a context manager)."""
    return Flipper
