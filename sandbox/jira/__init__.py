"""The Jira half of the tracker sandbox (Cloud and Data Center flavours); see README.md here."""
