"""``python -m sematune``."""

from sematune.app import main

main()
