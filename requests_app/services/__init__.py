"""Domain services: every state change of Access Portal goes through one of these."""
