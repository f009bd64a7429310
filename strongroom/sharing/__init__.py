"""Sharing: grants to named users, share links, and the one access policy for files."""
