"""Wiring shared by every stage: configuration, CLI, simulator and the local broker."""
