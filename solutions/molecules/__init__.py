"""Molecule screening: standardise, filter and rank a compound library by predicted properties."""
