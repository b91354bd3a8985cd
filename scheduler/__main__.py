"""``python -m scheduler`` runs the command line, the same as ``broadcast-scheduler``."""

from scheduler.cli import main

raise SystemExit(main())
