"""``aliasdesk web``: the requester's ticket pages and one-click feedback, over HTTP.

An entry point beside ``gateway`` and ``worker``: it reads and changes tickets only
through ``aliasdesk.services``, and knows nothing of IMAP, the broker or the workers.
Mail it causes is written to the outbox like any other and sent by the running workers.
"""
