"""simulate stage of fringenet."""
