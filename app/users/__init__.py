"""Staff accounts: the admins' Staff page, anyone's own password, and ``flask users``."""
