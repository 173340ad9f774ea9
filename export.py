"""MindCV-style export entry point: `python export.py --format mindir [-c CONFIG] ...`.

Same flags as `coat-export export` / `python -m coat_export export`.
"""
import sys

from coat_export.cli import main
from coat_export.edge.cli_support import run_program

if __name__ == "__main__":
    run_program(lambda: main(["export", *sys.argv[1:]]))
