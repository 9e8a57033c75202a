"""models stage of fringenet."""
