"""io stage of fringenet."""
