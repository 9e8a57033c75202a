"""report stage of fringenet."""
