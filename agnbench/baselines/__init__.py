"""Catalog track: gradient-boosted trees and reference models on catalog features."""
