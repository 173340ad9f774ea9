"""MindCV-style export entry point: `python export.py --format mindir [-c CONFIG] ...`.

Same flags as `coat-export export` / `python -m coat_export export`.
"""
import sys

from coat_export.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
