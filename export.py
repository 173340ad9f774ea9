"""MindCV-style export entry point: `python export.py --format mindir [-c CONFIG] ...`.

Same flags as `coat-export export` / `python -m coat_export export`.
"""
from coat_export.__main__ import entry  # handles Ctrl-C before the CLI's imports

if __name__ == "__main__":
    entry(["export"])
