"""One-off measured experiments behind explanations in bench/README.md (not `bench` commands)."""
