"""Sources LibraryCache fills itself from; each talks to the server only over its GraphQL API."""
