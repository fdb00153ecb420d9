"""python -m evaluation: how good is a swap? See evaluation/evaluate.py."""
import sys

from evaluation.evaluate import main

sys.exit(main())
