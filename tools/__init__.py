"""Developer tools: weight conversion, parity checks, pinned sources (not shipped)."""
