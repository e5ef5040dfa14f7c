"""HTTP side of LibraryCache: settings, the ASGI app, the CLI and the embedded store."""
