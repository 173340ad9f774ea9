"""`python -m coat_export`: the CLI (see coat_export.cli)."""
import sys


def _main() -> int:
    from .edge.cli_support import install_signal_handlers

    install_signal_handlers()
    try:
        from .cli import main
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the CLI itself imports
        print("error: interrupted", file=sys.stderr)
        return 130
    return main()


if __name__ == "__main__":
    from .edge.cli_support import run_program

    run_program(_main)
