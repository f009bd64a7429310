"""Administration: managing accounts and invitations (API and CLI)."""
