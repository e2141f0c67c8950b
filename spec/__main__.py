"""``python -m hintspec`` is the ``hintspec`` command."""

from hintspec.cli import main

raise SystemExit(main())
