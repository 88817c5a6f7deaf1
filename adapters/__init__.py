"""Adapters to the outside world that both the web process and the workers use: the job broker (Dramatiq on
Redis) and the SMS senders (Twilio, a console file, a recording fake). Only frontdesk.bootstrap builds them."""
