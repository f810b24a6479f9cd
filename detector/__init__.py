"""Fallback manipulation assessment for media that matches no registered original (issue 11).

Pure: media in, results out; imports nothing from `registry/` or `api/`.
"""
