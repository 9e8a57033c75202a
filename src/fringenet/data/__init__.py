"""data stage of fringenet."""
