"""The engineers' portal: server-rendered pages over the domain services and selectors."""
