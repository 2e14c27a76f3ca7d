"""``python -m runnorm`` runs the command line."""

from runnorm.cli import main

main()
