"""Mirror a user's Spotify library into LibraryCache: ``librarycache spotify pull`` and
``librarycache spotify import-history``."""
