"""The PySide6 workstation. The only package that imports Qt (import-linter enforces it)."""
