"""insar stage of fringenet."""
