"""Small shared helpers: atomic writes, seeding, environment description, progress bars."""
