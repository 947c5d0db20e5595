"""Adapters to social networks behind one protocol (base.py)."""
