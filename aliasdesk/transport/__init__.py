"""Talking to outside services below the code that uses them: the OAuth2 token client
serves both the IMAP login (gateway) and the SMTP login (notify), so it sits under both."""
