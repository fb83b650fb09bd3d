"""The small exception hierarchy every adapter translates its library errors into."""


class InboxbotError(Exception):
    """Base class; the CLI prints str(error) as one line and exits with `exit_code`."""

    exit_code = 1


class UsageError(InboxbotError):
    """A command-line argument or option has a value the command cannot use (a bad --at
    time, an unknown weekday): a usage error, exit code 2, as for one Typer itself refuses."""

    exit_code = 2


class ConfigError(InboxbotError):
    """config.toml is missing, unreadable or invalid."""


class RuleError(InboxbotError):
    """A rules file is invalid; the message names file, line and rule."""


class TemplateError(InboxbotError):
    """A reply template does not parse or uses an unknown variable."""


class MailboxError(InboxbotError):
    """The IMAP server or Maildir could not be reached or refused an operation."""


class SendError(InboxbotError):
    """SMTP delivery failed."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class StoreError(InboxbotError):
    """The state file could not be read, written or locked."""
