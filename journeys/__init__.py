"""Journeys and their ordered stages: the map a manager draws."""
