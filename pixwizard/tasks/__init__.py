"""Task catalogue, instruction templates and routing, input preparation and typed outputs (Tasks issue)."""
