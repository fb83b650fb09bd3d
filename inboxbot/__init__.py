"""inboxbot: email-native support automation for one shared IMAP mailbox."""

__version__ = "0.1.0"
