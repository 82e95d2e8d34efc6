"""One module per resource of the REST API; each view calls selectors and services only."""
