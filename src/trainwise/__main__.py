"""`python -m trainwise`: the same CLI as the `trainwise` command."""

from trainwise.cli import main

raise SystemExit(main())
