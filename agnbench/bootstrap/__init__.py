"""Paired bootstrap intervals and significance tests between tracks."""
