"""Operator tools that run beside the function, never inside its image."""
