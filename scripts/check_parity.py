"""Check the PixWizard transformer against a folder of reference numbers from the official model.

Usage: python scripts/check_parity.py DIR [DIR ...]

Prints one line per case (max relative error) and per manifest, then
``parity: K/N cases within 1e-05, manifests M/M``; exits 0 only if everything passes.
"""

from __future__ import annotations

import sys

from pixwizard.errors import PixWizardError
from pixwizard.eval.parity import run_parity


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ok = True
    for folder in argv:
        try:
            ok = run_parity(folder).ok and ok
        except PixWizardError as exc:
            print(f"error: {exc}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
