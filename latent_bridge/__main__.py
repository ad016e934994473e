"""``python -m latent_bridge``: the same as the ``latent-bridge`` command."""

from latent_bridge.cli import main

raise SystemExit(main())
