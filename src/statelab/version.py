"""statelab's version: one definition, importable from every layer (the package's `__init__`
re-exports it; lower modules import it from here, never from the package above them)."""

__version__ = "0.2.0"
