"""Spatial domain logic of Shared Estate: plain Python, no web framework, no sessions."""
