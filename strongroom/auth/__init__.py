"""Accounts: users, passwords, sessions, personal access tokens, TOTP, roles."""
