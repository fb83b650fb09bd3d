"""Dovecot fixture (owned by the IMAP work)."""
