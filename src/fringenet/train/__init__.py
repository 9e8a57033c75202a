"""train stage of fringenet."""
