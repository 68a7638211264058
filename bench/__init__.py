"""Benchmarks: throughput, latency and memory of aliasdesk against a bare loop and
django-helpdesk, on the same generated mailbox and the same Dovecot. Run ``make bench``."""
