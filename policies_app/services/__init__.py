"""Policy services: apply, export, notification rules, roles and resources one by one."""
