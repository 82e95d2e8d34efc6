"""Portal views, one module per page. Thin: they read through selectors, write through
services, and turn `DomainError`s into messages on the page."""
