"""Helpers shared by several strategies; they register no strategy of their own."""
