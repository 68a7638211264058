"""How many jobs one claim of the relay takes. A module of its own, with nothing to
import: ``run`` reads it before it starts its job processes, and the relay's own module
brings in most of aliasdesk."""

CLAIM_BATCH = 200
"""Jobs one claim takes when this process is the only one running them."""
SHARED_BATCH = 50
"""Jobs one claim takes when several processes run them (``run --processes``): a burst
of mail is shared out instead of going whole to whichever process looked first, and a
batch is still large enough to read its tickets' links and files once."""
