"""``torchrun --nproc-per-node N -m pixwizard.trainer CONFIG [key=value ...] [--resume]``."""

from __future__ import annotations

import os
import sys

from pixwizard.trainer.run import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], distributed="RANK" in os.environ))
