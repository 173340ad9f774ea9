"""`python -m coat_export` and the `coat-export` console script: the CLI (coat_export.cli).

Light on purpose: Ctrl-C and SIGTERM are handled before the CLI's imports start.
"""
import sys


def entry(command=()) -> None:
    """Run the CLI on `command` + the process's arguments (export.py passes ["export"])."""
    from .edge.interrupts import exit_on_interrupt_while_starting

    exit_on_interrupt_while_starting()
    from .cli import main
    from .edge.cli_support import run_program

    run_program(lambda: main([*command, *sys.argv[1:]]))


if __name__ == "__main__":
    entry()
