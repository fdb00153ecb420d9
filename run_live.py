#!/usr/bin/env python3
"""Swap faces live: `python run_live.py --help`, or `python run_live.py --demo` to see it work with nothing set up.

The command line is live/cli.py; the demo, which builds a model with training/ and export/, is evaluation/demo.py.
"""
import sys

from evaluation.demo import DemoError, run_demo
from live.cli import main

if __name__ == "__main__":
    sys.exit(main(demo=run_demo, demo_errors=(DemoError,)))
