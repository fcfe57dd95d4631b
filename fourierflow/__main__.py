"""`python -m fourierflow`: the command line."""

from .cli import main

main()
