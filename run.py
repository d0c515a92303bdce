#!/usr/bin/env python3
"""Start sam3roto: `python run.py` opens the workstation, `python run.py --help` lists commands."""

import sys

from sam3roto.app import main

if __name__ == "__main__":
    sys.exit(main())
