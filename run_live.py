#!/usr/bin/env python3
"""Swap faces live: `python run_live.py --help`, or `python run_live.py --demo` to see it work with nothing set up."""
import sys

from live.cli import main

if __name__ == "__main__":
    sys.exit(main())
