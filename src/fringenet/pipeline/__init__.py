"""pipeline stage of fringenet."""
