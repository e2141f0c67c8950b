"""``python -m hintspec`` is the ``hintspec`` command."""

from hintspec.cli.app import main

raise SystemExit(main())
