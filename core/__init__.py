"""What every part of the service stands on: the database, the workflows, the activities and
the site alike. Nothing here imports any of them, so each may import it."""
