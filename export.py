"""MindCV-style export entry point: `python export.py --format mindir [-c CONFIG] ...`.

Same flags as `coat-export export` / `python -m coat_export export`.
"""
import sys

from coat_export.edge.interrupts import exit_on_interrupt_while_starting

exit_on_interrupt_while_starting()  # before the slow imports

from coat_export.cli import main  # noqa: E402
from coat_export.edge.cli_support import run_program  # noqa: E402

if __name__ == "__main__":
    run_program(lambda: main(["export", *sys.argv[1:]]))
