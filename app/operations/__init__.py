"""The Operations page: the machinery's health for admins, live."""
