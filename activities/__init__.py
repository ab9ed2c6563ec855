"""Activities: persistence (SQLModel) and notification (SMTP)."""
