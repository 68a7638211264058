"""One module per pipeline stage; the order lives in aliasdesk.inbound.pipeline.STAGES."""
