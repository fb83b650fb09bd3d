"""aiosmtpd sink fixture (owned by the SMTP work)."""
