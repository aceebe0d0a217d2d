"""Validate data component."""
