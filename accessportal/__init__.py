"""Access Portal: just-in-time access requests for Django."""
