"""sam3roto: a rotoscoping workstation with a Qt-free core.

Importing this package is cheap: heavy dependencies (PyAV, torch, Qt) are imported
inside the functions that need them.
"""

__version__ = "0.1.0"
