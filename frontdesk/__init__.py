"""frontdesk: the composition root (settings, bootstrap), the CLI and the embedded dev servers."""
