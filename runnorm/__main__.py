"""``python -m runnorm`` runs the command line."""

from runnorm._cli.app import main

main()
